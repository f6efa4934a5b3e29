//! `mspack_telemetry`: OpenTelemetry for mspack services.
//!
//! [`init`] sets up, in this order, metrics (periodic OTLP export), logs (`tracing` events as
//! JSON on stdout and, through the OpenTelemetry bridge, as OTLP log records carrying the trace
//! and span ids) and traces (batched OTLP export); it sets the global text-map propagator to
//! W3C TraceContext + Baggage explicitly. Everything else comes from the standard environment:
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_*` (endpoint, headers,
//! timeout, protocol `http/protobuf` or `http/json`), `OTEL_TRACES_SAMPLER` (e.g.
//! `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG`), `OTEL_METRIC_EXPORT_INTERVAL`;
//! `OTEL_SDK_DISABLED=true` keeps the stdout logs and leaves the no-op providers in place. The name and
//! version given to [`init`] are only a fallback for when the environment names no service.
//!
//! [`Telemetry::shutdown`] flushes and stops the providers in the order tracer, logger, meter,
//! so the spans and logs of the last requests leave the process on SIGTERM.
//!
//! [`http_middleware`] traces inbound axum requests (a SERVER span named `"{METHOD} {route}"`,
//! parent extracted from the request headers, `http.server.request.duration` recorded), and
//! [`inject_headers`] / [`message_headers`] / [`extract_message_context`] carry the context on
//! outbound HTTP calls and on messages.
//!
//! This file is also copied verbatim into every service that `mspack new` writes.

mod logs;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{self, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::metrics::Histogram;
use opentelemetry::propagation::{Extractor, Injector, TextMapCompositePropagator};
use opentelemetry::trace::{
    FutureExt, Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider,
};
use opentelemetry::{Context, KeyValue, StringValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;

pub use logs::JsonLines;

/// Paths that are never traced: probes and scrapes would drown the real traffic.
pub const UNTRACED_PATHS: &[&str] = &["/livez", "/readyz", "/metrics"];

/// The instrumentation scope of this crate's spans and metrics.
const SCOPE: &str = "mspack_telemetry";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("building the OTLP {signal} exporter: {message}")]
    Exporter {
        signal: &'static str,
        message: String,
    },
    #[error("installing the log subscriber: {0}")]
    Subscriber(String),
    #[error("shutting down the {signal} provider: {message}")]
    Shutdown {
        signal: &'static str,
        message: String,
    },
}

/// The installed providers; call [`Telemetry::shutdown`] before the process exits.
#[derive(Debug)]
pub struct Telemetry {
    /// `None` when `OTEL_SDK_DISABLED=true`: the global providers stay OpenTelemetry's no-ops.
    providers: Option<Providers>,
}

#[derive(Debug)]
struct Providers {
    tracer: SdkTracerProvider,
    logger: SdkLoggerProvider,
    meter: SdkMeterProvider,
}

/// Whether `OTEL_SDK_DISABLED` turns the SDK off.
fn sdk_disabled() -> bool {
    std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The resource from the environment (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), with
/// `service.name` and `service.version` filled in only when the environment gives none.
pub fn resource(fallback_name: &str, fallback_version: &str) -> Resource {
    let attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let named_by_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || attributes
            .split(',')
            .any(|kv| kv.trim_start().starts_with("service.name="));
    let mut builder = Resource::builder();
    if !named_by_env {
        builder = builder.with_service_name(fallback_name.to_owned());
    }
    if !attributes
        .split(',')
        .any(|kv| kv.trim_start().starts_with("service.version="))
    {
        builder = builder.with_attribute(KeyValue::new(
            "service.version",
            fallback_version.to_owned(),
        ));
    }
    builder.build()
}

/// Install the global propagator, meter, logger (with the stdout JSON log layer) and tracer.
pub fn init(fallback_name: &str, fallback_version: &str) -> Result<Telemetry, TelemetryError> {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    if sdk_disabled() {
        // As the specification asks: no-op providers (spans, metrics and log records cost
        // nothing), only the JSON lines on stdout.
        logs::install_log_subscriber(None)?;
        return Ok(Telemetry { providers: None });
    }
    let resource = resource(fallback_name, fallback_version);

    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()
        .map_err(|e| exporter_error("metrics", e))?;
    let meter = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_periodic_exporter(exporter)
        .build();
    global::set_meter_provider(meter.clone());

    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .build()
        .map_err(|e| exporter_error("logs", e))?;
    let logger = SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(exporter)
        .build();
    logs::install_log_subscriber(Some(&logger))?;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| exporter_error("traces", e))?;
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build();
    global::set_tracer_provider(tracer.clone());

    Ok(Telemetry {
        providers: Some(Providers {
            tracer,
            logger,
            meter,
        }),
    })
}

fn exporter_error(signal: &'static str, error: impl std::fmt::Display) -> TelemetryError {
    TelemetryError::Exporter {
        signal,
        message: error.to_string(),
    }
}

impl Telemetry {
    /// Flush and stop: tracer, then logger, then meter. Blocks until the exporters are done
    /// (each bounded by `OTEL_EXPORTER_OTLP_TIMEOUT`); call it from a blocking context
    /// (`tokio::task::spawn_blocking`) inside an async runtime.
    pub fn shutdown(self) -> Result<(), TelemetryError> {
        let Some(providers) = self.providers else {
            return Ok(());
        };
        let mut first_error = None;
        let results = [
            ("traces", providers.tracer.shutdown()),
            ("logs", providers.logger.shutdown()),
            ("metrics", providers.meter.shutdown()),
        ];
        for (signal, result) in results {
            if let Err(e) = result
                && first_error.is_none()
            {
                first_error = Some(TelemetryError::Shutdown {
                    signal,
                    message: e.to_string(),
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Reads propagation fields from HTTP headers.
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes propagation fields into HTTP headers.
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The context a request carries in its headers (`traceparent`, `tracestate`, `baggage`).
pub fn extract_context(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Put `context` into the headers of an outbound HTTP request.
pub fn inject_headers(context: &Context, headers: &mut HeaderMap) {
    global::get_text_map_propagator(|p| p.inject_context(context, &mut HeaderInjector(headers)));
}

/// The propagation headers of a message produced in `context` (e.g. NATS headers).
pub fn message_headers(context: &Context) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(context, &mut headers));
    headers
}

/// The context a consumed message was produced in, to parent or link the CONSUMER span.
pub fn extract_message_context(headers: &HashMap<String, String>) -> Context {
    global::get_text_map_propagator(|p| p.extract(headers))
}

/// Start a PRODUCER span for a message sent to `destination` (e.g. a NATS subject), as a child
/// of `parent`; returns the span's context (end it with `context.span().end()`) and the headers
/// to send with the message.
pub fn start_producer_span(
    parent: &Context,
    system: &'static str,
    destination: &str,
) -> (Context, HashMap<String, String>) {
    let tracer = global::tracer_provider().tracer(SCOPE);
    let span = tracer
        .span_builder(format!("send {destination}"))
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", system),
            KeyValue::new("messaging.operation.type", "send"),
            KeyValue::new("messaging.destination.name", destination.to_owned()),
        ])
        .start_with_context(&tracer, parent);
    let context = parent.with_span(span);
    let headers = message_headers(&context);
    (context, headers)
}

/// Start a CONSUMER span for a message received from `destination`, parented on the context the
/// producer put in `headers`; returns the span's context.
pub fn start_consumer_span(
    headers: &HashMap<String, String>,
    system: &'static str,
    destination: &str,
) -> Context {
    let parent = extract_message_context(headers);
    let tracer = global::tracer_provider().tracer(SCOPE);
    let span = tracer
        .span_builder(format!("process {destination}"))
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", system),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.destination.name", destination.to_owned()),
        ])
        .start_with_context(&tracer, &parent);
    parent.with_span(span)
}

/// The span name of a server request: `"{METHOD} {route}"`, or the method alone when no route
/// matched (an unmatched path would make the name unbounded).
pub fn server_span_name(method: &str, route: Option<&str>) -> String {
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

/// `http.request.method` as semantic conventions spell it: the known methods, else `_OTHER`
/// (an arbitrary method would make the metric's cardinality unbounded).
fn method_value(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "_OTHER",
    }
}

/// What the middleware uses on every request, made once: creating an instrument or a tracer
/// takes the SDK's locks and allocates, which per request cost more than the request itself.
struct Instruments {
    tracer: global::BoxedTracer,
    request_duration: Histogram<f64>,
}

/// Made at the first traced request, from the providers [`init`] installed before serving.
static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

fn instruments() -> &'static Instruments {
    INSTRUMENTS.get_or_init(|| Instruments {
        tracer: global::tracer_provider().tracer(SCOPE),
        request_duration: global::meter_provider()
            .meter(SCOPE)
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ])
            .build(),
    })
}

/// A traced request between its start and its response: the SERVER span's context and what
/// the duration metric is recorded with.
struct ServerRequest {
    started: Instant,
    context: Context,
    method: KeyValue,
    route: Option<KeyValue>,
}

/// Start the SERVER span of `request` (its parent from the request headers), or `None` for the
/// [`UNTRACED_PATHS`].
fn start_request(request: &Request) -> Option<ServerRequest> {
    if UNTRACED_PATHS.contains(&request.uri().path()) {
        return None;
    }
    let started = Instant::now();
    let tracer = &instruments().tracer;
    let parent = extract_context(request.headers());
    let method = KeyValue::new("http.request.method", method_value(request.method()));
    // Shared (reference-counted) by the span and the metric.
    let route = request.extensions().get::<MatchedPath>().map(|m| {
        let text: Arc<str> = Arc::from(m.as_str());
        KeyValue::new("http.route", StringValue::from(text))
    });
    let mut attributes = Vec::with_capacity(4);
    attributes.push(method.clone());
    attributes.push(KeyValue::new("url.scheme", "http"));
    if let Some(route) = &route {
        attributes.push(route.clone());
    }
    let name = server_span_name(
        request.method().as_str(),
        route.as_ref().map(|r| r.value.as_str()).as_deref(),
    );
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    // Only a sampled span keeps attributes: don't copy the path for one that isn't.
    if span.is_recording() {
        span.set_attribute(KeyValue::new("url.path", request.uri().path().to_owned()));
    }
    Some(ServerRequest {
        started,
        context: parent.with_span(span),
        method,
        route,
    })
}

impl ServerRequest {
    /// The response's status and `error.type` on the span, the span ended, the duration
    /// recorded.
    fn finish(self, response: &Response) {
        let status = response.status().as_u16();
        let span = self.context.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
            span.set_status(Status::error(""));
        }
        span.end();

        let mut attributes = Vec::with_capacity(4);
        attributes.push(self.method);
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if let Some(route) = self.route {
            attributes.push(route);
        }
        if status >= 500 {
            attributes.push(KeyValue::new("error.type", status.to_string()));
        }
        instruments()
            .request_duration
            .record(self.started.elapsed().as_secs_f64(), &attributes);
    }
}

/// axum middleware (for `axum::middleware::from_fn`) doing what [`HttpLayer`] does; the layer
/// costs less per request.
pub async fn http_middleware(request: Request, next: Next) -> Response {
    let Some(traced) = start_request(&request) else {
        return next.run(request).await;
    };
    let response = next.run(request).with_context(traced.context.clone()).await;
    traced.finish(&response);
    response
}

/// Tower layer for axum routers: one SERVER span per request (except [`UNTRACED_PATHS`]) whose
/// parent comes from the request headers, the response status and `error.type` on it, the
/// request duration recorded (`http.server.request.duration`), and the context attached while
/// the handler runs so logs and problems carry the trace id. Add it with
/// `Router::layer(mspack_telemetry::HttpLayer)` after the routes.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpLayer;

impl<S> tower::Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> HttpService<S> {
        HttpService { inner }
    }
}

/// The service [`HttpLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct HttpService<S> {
    inner: S,
}

type BoxedResponse<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S> tower::Service<Request> for HttpService<S>
where
    S: tower::Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxedResponse<S::Error>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(traced) = start_request(&request) else {
            return Box::pin(self.inner.call(request));
        };
        let response = self
            .inner
            .call(request)
            .with_context(traced.context.clone());
        Box::pin(async move {
            let response = response.await?;
            traced.finish(&response);
            Ok(response)
        })
    }
}

/// Wait for SIGTERM (what Kubernetes sends) or Ctrl-C; pass it to
/// `axum::serve(..).with_graceful_shutdown(..)` so accepted requests drain before exit.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio_ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining");
}

async fn tokio_ctrl_c() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

/// How long shutdown may take at most before the providers are stopped regardless.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn install_propagator() {
        global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
    }

    /// A remote, sampled context with trace 4bf92f35... and span 00f067aa..., and baggage.
    pub(crate) fn remote_context() -> Context {
        let span_context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or(TraceId::INVALID),
            SpanId::from_hex("00f067aa0ba902b7").unwrap_or(SpanId::INVALID),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        Context::new()
            .with_remote_span_context(span_context)
            .with_baggage(vec![KeyValue::new("tenant", "acme")])
    }

    #[test]
    fn http_headers_round_trip_trace_context_and_baggage() {
        install_propagator();
        let mut headers = HeaderMap::new();
        inject_headers(&remote_context(), &mut headers);
        assert_eq!(
            headers.get("traceparent").and_then(|v| v.to_str().ok()),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let back = extract_context(&headers);
        assert_eq!(
            back.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            back.baggage().get("tenant").map(|v| v.to_string()),
            Some("acme".to_owned())
        );
    }

    #[test]
    fn message_headers_round_trip() {
        install_propagator();
        let headers = message_headers(&remote_context());
        assert!(headers.contains_key("traceparent"));
        let back = extract_message_context(&headers);
        assert!(back.span().span_context().is_remote());
        assert_eq!(
            back.span().span_context().span_id().to_string(),
            "00f067aa0ba902b7"
        );
    }

    #[test]
    fn consumer_spans_continue_the_producer_trace() {
        install_propagator();
        let provider = SdkTracerProvider::builder().build();
        global::set_tracer_provider(provider);
        let (producer, headers) = start_producer_span(&remote_context(), "nats", "orders.created");
        let consumer = start_consumer_span(&headers, "nats", "orders.created");
        assert_eq!(
            consumer.span().span_context().trace_id(),
            producer.span().span_context().trace_id()
        );
        assert_eq!(
            consumer.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        producer.span().end();
        consumer.span().end();
    }

    #[test]
    fn span_names_use_the_route_not_the_path() {
        assert_eq!(
            server_span_name("GET", Some("/items/{id}")),
            "GET /items/{id}"
        );
        assert_eq!(server_span_name("POST", None), "POST");
    }
}
