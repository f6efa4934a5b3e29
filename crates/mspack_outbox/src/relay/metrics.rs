//! The relay's OpenTelemetry instruments (global meter; no-ops unless a service installed one).

use std::time::{Instant, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::{Counter, Histogram};

use super::BatchReport;

#[derive(Debug)]
pub(crate) struct RelayMetrics {
    published: Counter<u64>,
    failed: Counter<u64>,
    dead_letters: Counter<u64>,
    reordered: Counter<u64>,
    lag: Histogram<f64>,
    batch: Histogram<f64>,
    outbox: KeyValue,
}

impl RelayMetrics {
    pub fn new(prefix: &str) -> Self {
        let meter = global::meter(mspack_eventstore::METER);
        RelayMetrics {
            published: meter
                .u64_counter("mspack.outbox.published")
                .with_unit("{message}")
                .with_description("Outbox rows acknowledged by JetStream")
                .build(),
            failed: meter
                .u64_counter("mspack.outbox.failed")
                .with_unit("{message}")
                .with_description("Publish attempts that failed and will be retried")
                .build(),
            dead_letters: meter
                .u64_counter("mspack.outbox.dead_letters")
                .with_unit("{message}")
                .with_description("Outbox rows parked as dead letters")
                .build(),
            reordered: meter
                .u64_counter("mspack.outbox.reordered")
                .with_unit("{message}")
                .with_description(
                    "Rows published after an earlier row of their key failed in the same batch",
                )
                .build(),
            lag: meter
                .f64_histogram("mspack.outbox.lag")
                .with_unit("s")
                .with_description("Time from writing an outbox row to its acknowledgement")
                .build(),
            batch: meter
                .f64_histogram("mspack.outbox.batch.duration")
                .with_unit("s")
                .with_description("Time of one relay pass")
                .build(),
            outbox: KeyValue::new("mspack.outbox", prefix.to_owned()),
        }
    }

    pub fn batch(&self, started: Instant, report: &BatchReport) {
        let attrs = std::slice::from_ref(&self.outbox);
        self.batch.record(started.elapsed().as_secs_f64(), attrs);
        self.published.add(report.published as u64, attrs);
    }

    pub fn lag(&self, created_us: i64) {
        let now_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let lag = (now_us - created_us).max(0) as f64 / 1e6;
        self.lag.record(lag, std::slice::from_ref(&self.outbox));
    }

    pub fn failed(&self, subject: &str) {
        self.failed.add(
            1,
            &[
                self.outbox.clone(),
                KeyValue::new("messaging.destination.name", subject.to_owned()),
            ],
        );
    }

    pub fn dead_letter(&self, subject: &str) {
        self.dead_letters.add(
            1,
            &[
                self.outbox.clone(),
                KeyValue::new("messaging.destination.name", subject.to_owned()),
            ],
        );
    }

    pub fn reordered(&self) {
        self.reordered.add(1, std::slice::from_ref(&self.outbox));
    }
}
