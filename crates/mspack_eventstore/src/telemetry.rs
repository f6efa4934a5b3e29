//! The event store's OpenTelemetry instruments, created once per store on the global meter (set
//! up by `mspack_telemetry::init` in a service; no-ops otherwise).

use std::time::Instant;

use opentelemetry::global::{self, BoxedSpan};
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::trace::{SpanKind, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::error::StoreError;
use crate::event::AppendResult;
use crate::sql::Backend;

/// Instrumentation scope of the consistency crates' metrics.
pub const METER: &str = "mspack";

/// A CLIENT span `name` under the current OpenTelemetry context, with `attributes`; it ends when
/// dropped. The consistency crates open one per append, relay batch and saga transition.
pub fn client_span(name: &'static str, attributes: Vec<KeyValue>) -> BoxedSpan {
    global::tracer(METER)
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start_with_context(&global::tracer(METER), &Context::current())
}

#[derive(Debug)]
pub(crate) struct StoreMetrics {
    duration: Histogram<f64>,
    events: Counter<u64>,
    attributes: [KeyValue; 1],
    /// The attributes of each outcome, built once: ok, retry, conflict, error.
    outcomes: [Vec<KeyValue>; 4],
}

impl StoreMetrics {
    pub fn new(backend: Backend) -> Self {
        let meter = global::meter(METER);
        let system = KeyValue::new(
            "db.system.name",
            match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgresql",
            },
        );
        StoreMetrics {
            duration: meter
                .f64_histogram("mspack.eventstore.append.duration")
                .with_unit("s")
                .with_description("Time to append one batch of events, by outcome")
                .build(),
            events: meter
                .u64_counter("mspack.eventstore.events")
                .with_unit("{event}")
                .with_description("Events appended")
                .build(),
            attributes: [system.clone()],
            outcomes: ["ok", "retry", "conflict", "error"]
                .map(|o| vec![system.clone(), KeyValue::new("outcome", o)]),
        }
    }

    /// The span of one append.
    pub fn span(&self, stream_id: &str, events: usize) -> BoxedSpan {
        let mut attributes = self.attributes.to_vec();
        attributes.push(KeyValue::new("db.operation.name", "append"));
        attributes.push(KeyValue::new("mspack.stream", stream_id.to_owned()));
        attributes.push(KeyValue::new("mspack.events", events as i64));
        client_span("mspack.eventstore.append", attributes)
    }

    pub fn appended(
        &self,
        started: Instant,
        events: usize,
        result: &Result<AppendResult, StoreError>,
    ) {
        let outcome = match result {
            Ok(r) if r.idempotent_retry => 1,
            Ok(_) => 0,
            Err(StoreError::Conflict { .. }) => 2,
            Err(_) => 3,
        };
        self.duration
            .record(started.elapsed().as_secs_f64(), &self.outcomes[outcome]);
        if matches!(result, Ok(r) if !r.idempotent_retry) {
            self.events.add(events as u64, &self.attributes);
        }
    }
}
