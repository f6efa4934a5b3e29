//! Logs: `tracing` events as one JSON object per line on stdout, and as OTLP log records through
//! the OpenTelemetry bridge.
//!
//! Every line carries the `trace_id` and `span_id` of the OpenTelemetry context the event was
//! logged in, read when the event is written. Nothing is done per request for it: no `tracing`
//! span is opened around each request (formatting one costs more than the request itself),
//! and an event outside any trace has neither field.

use std::fmt::{self, Write as _};

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::TelemetryError;

/// Crates whose own logs must not be exported through OpenTelemetry: the exporter's HTTP client
/// would log about its own requests, forever.
const NOISY_CRATES: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "tower",
    "opentelemetry",
];

/// `RUST_LOG` (default `info`) for both layers; the OpenTelemetry bridge also drops the
/// exporter's own dependencies so exporting never logs about itself.
/// Without a logger provider (the SDK disabled), only the stdout layer.
pub(crate) fn install_log_subscriber(
    logger: Option<&SdkLoggerProvider>,
) -> Result<(), TelemetryError> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let bridge = logger.map(|logger| {
        let mut bridge_filter = filter();
        for name in NOISY_CRATES {
            if let Ok(directive) = format!("{name}=off").parse() {
                bridge_filter = bridge_filter.add_directive(directive);
            }
        }
        tracing_subscriber::Layer::with_filter(
            OpenTelemetryTracingBridge::new(logger),
            bridge_filter,
        )
    });
    let stdout = tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines);
    tracing_subscriber::registry()
        .with(bridge)
        .with(tracing_subscriber::Layer::with_filter(stdout, filter()))
        .try_init()
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))
}

/// One JSON object per event: `timestamp`, `level`, `target`, `fields` (the message and the
/// event's fields), `span` (the innermost `tracing` span's name and fields, when there is one),
/// `trace_id` and `span_id` (when the OpenTelemetry context has a valid span).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        push_escaped(&mut line, &time);
        let meta = event.metadata();
        let _ = write!(line, "\",\"level\":\"{}\",\"target\":\"", meta.level());
        push_escaped(&mut line, meta.target());
        line.push_str("\",\"fields\":{");
        let mut fields = JsonVisitor {
            out: &mut line,
            first: true,
        };
        event.record(&mut fields);
        line.push('}');
        if let Some(span) = ctx.lookup_current() {
            line.push_str(",\"span\":{\"name\":\"");
            push_escaped(&mut line, span.name());
            line.push('"');
            let extensions = span.extensions();
            if let Some(formatted) = extensions.get::<FormattedFields<N>>() {
                // JsonFields writes `{"a":1,"b":"x"}`; splice its members in.
                let members = formatted.fields.trim();
                let members = members
                    .strip_prefix('{')
                    .and_then(|m| m.strip_suffix('}'))
                    .unwrap_or("");
                if !members.is_empty() {
                    line.push(',');
                    line.push_str(members);
                }
            }
            line.push('}');
        }
        let context = Context::current();
        let span = context.span();
        let span_context = span.span_context();
        if span_context.is_valid() {
            let _ = write!(
                line,
                ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                span_context.trace_id(),
                span_context.span_id()
            );
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// Writes an event's fields as JSON members into `out`.
struct JsonVisitor<'a> {
    out: &'a mut String,
    first: bool,
}

impl JsonVisitor<'_> {
    fn key(&mut self, field: &Field) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        push_escaped(self.out, field.name());
        self.out.push_str("\":");
    }

    fn string(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.out.push('"');
        push_escaped(self.out, value);
        self.out.push('"');
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.key(field);
            let _ = write!(self.out, "{value}");
        } else {
            self.string(field, &value.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.string(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, &format!("{value:?}"));
    }
}

/// Append `text` to `out` as the inside of a JSON string.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what the stdout layer writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut inner) = self.0.lock() {
                inner.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(log: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(move || sink.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn lines_are_json_with_the_fields_and_the_trace_of_the_context() {
        let lines = lines_of(|| {
            tracing::info!(id = 7_u64, ok = true, ratio = 0.5, "plain");
            let _guard = crate::tests::remote_context().attach();
            let span = tracing::info_span!("job", queue = "a\"b");
            let _entered = span.enter();
            tracing::warn!(error = %"bad\nthing", "quote \" and \\ and \u{1}");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let first = &lines[0];
        assert!(first.starts_with("{\"timestamp\":\""), "{first}");
        assert!(first.contains("\"level\":\"INFO\""), "{first}");
        assert!(
            first.contains("\"fields\":{\"message\":\"plain\",\"id\":7,\"ok\":true,\"ratio\":0.5}"),
            "{first}"
        );
        assert!(
            !first.contains("trace_id") && !first.contains("\"span\""),
            "{first}"
        );
        let second = &lines[1];
        assert!(
            second.contains("\"message\":\"quote \\\" and \\\\ and \\u0001\""),
            "{second}"
        );
        assert!(second.contains("\"error\":\"bad\\nthing\""), "{second}");
        assert!(
            second.contains("\"span\":{\"name\":\"job\",\"queue\":\"a\\\"b\"}"),
            "{second}"
        );
        assert!(
            second.ends_with(
                ",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}"
            ),
            "{second}"
        );
    }
}
