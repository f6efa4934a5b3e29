//! `HttpLayer` and `http_middleware` on a real axum router: one SERVER span per traced request,
//! named by route, parented on the caller's `traceparent`, with the status (and `error.type` on
//! a 5xx); probes are not traced. Its own process: the tracer is global and made once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, Value, global};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use tower::ServiceExt;

/// Keeps every ended span.
#[derive(Clone, Debug, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Collect {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if let Ok(mut spans) = self.0.lock() {
            spans.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    traceparent: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let Ok(request) = request.body(Body::empty()) else {
        panic!("request builds");
    };
    let response = match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    (status, body)
}

/// A handler that sees the trace of the request (its context is attached while it runs).
async fn item() -> String {
    Context::current()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

fn routes() -> Router {
    Router::new()
        .route("/livez", get(|| async { StatusCode::OK }))
        .route("/v1/items/{id}", get(item))
        .route(
            "/v1/fail",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
}

#[tokio::test]
async fn the_layer_and_the_middleware_trace_each_request_once() {
    let spans = Collect::default();
    global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    global::set_tracer_provider(
        SdkTracerProvider::builder()
            .with_span_processor(spans.clone())
            .build(),
    );
    let layered = routes().layer(mspack_telemetry::HttpLayer);
    let from_fn = routes().layer(axum::middleware::from_fn(mspack_telemetry::http_middleware));
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    for app in [&layered, &from_fn] {
        let before = spans.0.lock().map(|s| s.len()).unwrap_or(0);
        assert_eq!(call(app, "GET", "/livez", None).await.0, StatusCode::OK);
        // The handler runs in the request's trace.
        assert_eq!(
            call(app, "GET", "/v1/items/7", Some(&traceparent)).await,
            (StatusCode::OK, trace_id.to_owned())
        );
        assert_eq!(
            call(app, "GET", "/v1/fail", None).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // An arbitrary method must not become a new span or metric attribute value.
        assert_eq!(
            call(app, "BREW", "/v1/items/7", None).await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let Ok(all) = spans.0.lock().map(|s| s.clone()) else {
            panic!("spans");
        };
        let new = &all[before..];
        assert_eq!(new.len(), 3, "the probe is not traced: {new:?}");
        let item = &new[0];
        assert_eq!(item.name, "GET /v1/items/{id}");
        assert_eq!(item.span_kind, SpanKind::Server);
        assert_eq!(item.span_context.trace_id().to_string(), trace_id);
        assert_eq!(item.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(
            attribute(item, "url.path"),
            Some(Value::from("/v1/items/7"))
        );
        assert_eq!(
            attribute(item, "http.response.status_code"),
            Some(Value::I64(200))
        );
        assert_eq!(attribute(item, "error.type"), None);
        let failed = &new[1];
        assert_eq!(failed.name, "GET /v1/fail");
        assert_eq!(attribute(failed, "error.type"), Some(Value::from("503")));
        assert!(matches!(
            failed.status,
            opentelemetry::trace::Status::Error { .. }
        ));
        let brewed = &new[2];
        assert_eq!(
            attribute(brewed, "http.request.method"),
            Some(Value::from("_OTHER"))
        );
    }
}
