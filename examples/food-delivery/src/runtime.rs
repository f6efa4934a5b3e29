//! What every role shares: durable JetStream consumers that outlive broker restarts, the HTTP
//! server with probes and problem+json errors, trace context in and out of messages, and the
//! outbox relay of a service's database.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use mspack_eventstore::{Database, Metadata, TablePrefix};
use mspack_outbox::{Backoff, Health, Relay, RelayConfig};
use opentelemetry::trace::TraceContextExt;
use tokio::sync::watch;

use crate::topology::Topology;

/// A shutdown signal every task of a process watches.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A signal and the sender that fires it.
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// Resolves once shutdown is requested.
    pub async fn wait(mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether shutdown was requested.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

/// The `traceparent` of the current OpenTelemetry context (for event metadata and messages).
pub fn current_traceparent() -> Option<String> {
    let context = opentelemetry::Context::current();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Event metadata carrying the current trace and `correlation_id`.
pub fn metadata(correlation_id: uuid::Uuid) -> Metadata {
    Metadata {
        correlation_id: Some(correlation_id),
        causation_id: None,
        traceparent: current_traceparent(),
    }
}

/// A message's headers as the map the propagator reads.
pub fn headers_of(message: &async_nats::Message) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(headers) = &message.headers {
        for (name, values) in headers.iter() {
            if let Some(value) = values.first() {
                map.insert(name.to_string(), value.as_str().to_owned());
            }
        }
    }
    map
}

/// Runs `work` inside a CONSUMER span parented on the trace context `message` carries.
pub async fn in_message_trace<F: Future>(message: &async_nats::Message, work: F) -> F::Output {
    use opentelemetry::trace::FutureExt;
    let headers = headers_of(message);
    let cx = mspack_telemetry::start_consumer_span(&headers, "nats", &message.subject);
    work.with_context(cx).await
}

/// Why handling a message failed: try again later (the message is not acked), or never (it is
/// terminated so it is not redelivered forever).
#[derive(Debug)]
pub enum HandleError {
    /// The database or a service is down: redeliver after a pause.
    Retry(String),
    /// The message can never be handled.
    Poison(String),
}

impl<E: std::fmt::Display> From<E> for HandleError {
    fn from(e: E) -> Self {
        HandleError::Retry(e.to_string())
    }
}

/// A durable JetStream consumer of the system's stream.
pub struct Consumer {
    /// Its durable name.
    pub durable: &'static str,
    /// The subjects it takes.
    pub filter: String,
    /// Messages handled at once.
    pub concurrency: usize,
    /// Its health.
    pub health: Health,
}

/// Consumes `c.filter` from the stream with the durable consumer `c.durable`, `c.concurrency`
/// messages at a time, until `shutdown`: a message is acked after `handle` succeeds, naked for
/// redelivery when it fails, terminated when it is poison. Re-subscribes after a broker
/// restart (the durable consumer keeps its place).
pub async fn consume<H, Fut>(
    js: jetstream::Context,
    topology: &Topology,
    c: Consumer,
    handle: H,
    shutdown: Shutdown,
) where
    H: Fn(jetstream::Message) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandleError>> + Send + 'static,
{
    let Consumer {
        durable,
        filter,
        concurrency,
        health,
    } = c;
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    'connect: while !shutdown.is_set() {
        let consumer = async {
            let stream = js.get_stream(&topology.stream).await?;
            let consumer = stream
                .get_or_create_consumer(
                    durable,
                    pull::Config {
                        durable_name: Some(durable.to_owned()),
                        filter_subject: filter.clone(),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(10),
                        max_ack_pending: 1000,
                        ..Default::default()
                    },
                )
                .await?;
            let messages = consumer.messages().await?;
            Ok::<_, async_nats::Error>(messages)
        };
        let mut messages = match consumer.await {
            Ok(m) => m,
            Err(e) => {
                health.degraded(format!("consumer {durable}: {e}"));
                tokio::select! {
                    () = shutdown.clone().wait() => break 'connect,
                    () = tokio::time::sleep(backoff.next_delay()) => continue 'connect,
                }
            }
        };
        health.healthy();
        backoff.reset();
        loop {
            let next = tokio::select! {
                () = shutdown.clone().wait() => break 'connect,
                next = messages.next() => next,
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    health.degraded(format!("consumer {durable}: {e}"));
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue 'connect;
                }
                None => continue 'connect,
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break 'connect;
            };
            let (handle, health) = (handle.clone(), health.clone());
            tokio::spawn(async move {
                let ack = match handle(message.clone()).await {
                    Ok(()) => AckKind::Ack,
                    Err(HandleError::Retry(e)) => {
                        health.degraded(e);
                        AckKind::Nak(Some(Duration::from_millis(200)))
                    }
                    Err(HandleError::Poison(e)) => {
                        tracing::warn!(error = %e, subject = %message.subject, "poison message dropped");
                        AckKind::Term
                    }
                };
                let _ = message.ack_with(ack).await;
                drop(permit);
            });
        }
    }
}

/// Starts the outbox relay of a service's database; returns it (its waker and health) after
/// spawning its loop.
pub async fn spawn_relay(
    topology: &Topology,
    db: Database,
    prefix: TablePrefix,
    name: String,
    js: jetstream::Context,
    shutdown: Shutdown,
) -> Result<Relay, mspack_outbox::OutboxError> {
    let relay = Relay::new(
        db,
        prefix,
        js,
        RelayConfig {
            name: Some(name),
            streams: vec![topology.stream_spec()],
            poll_interval: Some(Duration::from_millis(20)),
            ..RelayConfig::default()
        },
    )
    .await?;
    let runner = relay.clone();
    tokio::spawn(async move { runner.run(shutdown.wait(), |_| {}).await });
    Ok(relay)
}

/// `/livez` (the process is up) and `/readyz` (every worker healthy, or degraded for less than
/// 5 s), merged into `router`; error responses are problems.
pub fn with_probes<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    workers: Vec<Health>,
) -> Router<S> {
    let readyz = get(move |State(workers): State<Arc<Vec<Health>>>| async move {
        let not_ready: Vec<String> = workers
            .iter()
            .filter(|h| !h.is_ready(Duration::from_secs(5)))
            .map(|h| {
                let r = h.report();
                format!(
                    "{}: {:?} {}",
                    r.worker,
                    r.status,
                    r.last_error.unwrap_or_default()
                )
            })
            .collect();
        if not_ready.is_empty() {
            (StatusCode::OK, "ready").into_response()
        } else {
            mspack_problem::Problem::new(503)
                .with_detail(not_ready.join("; "))
                .into_response()
        }
    })
    .with_state(Arc::new(workers));
    let probes = Router::new()
        .route("/livez", get(|| async { "live" }))
        .route("/readyz", readyz);
    mspack_problem::install(router.merge(probes).layer(mspack_telemetry::HttpLayer))
}

/// Serves `router` on `listen`:`port` until `shutdown`.
pub async fn serve(
    router: Router,
    listen: &str,
    port: u16,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((listen, port))
        .await
        .map_err(|e| anyhow::anyhow!("binding {listen}:{port}: {e}"))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.wait())
        .await?;
    Ok(())
}
