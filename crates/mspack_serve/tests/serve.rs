//! `ProtectLayer` and `serve` on real routers and a real socket: slow requests and requests over
//! the limit get 503 problems while probes still answer; on the signal `/readyz` turns 503 while
//! requests are still served, then the listener closes and a request that never finishes does
//! not hold `serve` past the drain timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use mspack_serve::{Limits, ProtectLayer, Readiness, serve};
use tokio::sync::Notify;
use tower::ServiceExt;

async fn call(app: &Router, path: &str) -> (StatusCode, Option<String>, String) {
    let Ok(request) = Request::builder().uri(path).body(Body::empty()) else {
        panic!("request builds");
    };
    let response = match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    (status, retry_after, body)
}

#[tokio::test]
async fn slow_requests_and_requests_over_the_limit_get_503_problems_but_probes_do_not() {
    let release = Arc::new(Notify::new());
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        max_in_flight: 1,
        ..Limits::default()
    };
    let routes = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/hold",
            get(|State(release): State<Arc<Notify>>| async move {
                release.notified().await;
                "released"
            }),
        )
        .route("/livez", get(|| async { "ok" }))
        .with_state(Arc::clone(&release))
        .layer(ProtectLayer::new(&limits));
    let app = mspack_problem::install(routes);

    let started = Instant::now();
    let (status, retry_after, body) = call(&app, "/slow").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("1"));
    // A 5xx problem carries no detail (mspack_problem masks them); its instance and status do.
    assert!(body.contains("\"status\":503"), "{body}");
    assert!(body.contains("\"instance\":\"/slow\""), "{body}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // One request holds the only permit; the next is shed at once, the probe still answers.
    let holder = {
        let app = app.clone();
        tokio::spawn(async move { call(&app, "/hold").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let shed_at = Instant::now();
    let (status, retry_after, body) = call(&app, "/hold").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body.contains("\"instance\":\"/hold\""), "{body}");
    // Shed at once, not after waiting for the timeout.
    assert!(shed_at.elapsed() < Duration::from_millis(150));
    assert_eq!(call(&app, "/livez").await.0, StatusCode::OK);
    release.notify_one();
    let held = holder.await.map(|(s, _, b)| (s, b)).ok();
    assert_eq!(held, Some((StatusCode::OK, "released".to_owned())));
    // The permit came back.
    let again = {
        let app = app.clone();
        tokio::spawn(async move { call(&app, "/hold").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.notify_one();
    assert_eq!(again.await.map(|(s, _, _)| s).ok(), Some(StatusCode::OK));
}

/// `GET path` on a new connection; the status, or `None` when the connection is refused or
/// closed without an answer.
async fn get_status(port: u16, path: &str) -> Option<u16> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test]
async fn on_the_signal_readiness_turns_503_while_serving_then_the_drain_is_bounded() {
    let readiness = Readiness::new();
    let limits = Limits {
        shutdown_delay: Duration::from_millis(600),
        drain_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let router = Router::new()
        .route(
            "/readyz",
            get(|State(ready): State<Readiness>| async move {
                if ready.is_ready() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        )
        .route("/hang", get(std::future::pending::<&'static str>))
        .with_state(readiness.clone());
    let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
        panic!("bind");
    };
    let Ok(port) = listener.local_addr().map(|a| a.port()) else {
        panic!("address");
    };
    let (fire, signal) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, readiness, limits, async move {
        let _ = signal.await;
    }));

    assert_eq!(get_status(port, "/readyz").await, Some(200));
    // A request that never finishes, in flight across the shutdown.
    let hanging = tokio::spawn(get_status(port, "/hang"));
    tokio::time::sleep(Duration::from_millis(50)).await;

    let fired = Instant::now();
    let _ = fire.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Still serving, but not ready: the endpoint is being removed.
    assert_eq!(get_status(port, "/readyz").await, Some(503));
    let Ok(served) = server.await else {
        panic!("the server task panicked");
    };
    assert!(served.is_ok(), "{served:?}");
    let took = fired.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(600 + 400 + 500),
        "shutdown took {took:?}: the delay, then at most the drain timeout"
    );
    // The listener is closed; the hanging request got no answer (in the service, the process
    // then exits and takes its connection with it).
    assert_eq!(get_status(port, "/readyz").await, None);
    assert_eq!(hanging.await.ok().flatten(), None);
}
