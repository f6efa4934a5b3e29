//! The peer: the same append workload through cqrs-es 0.5 + postgres-es 0.5 (which brings its own
//! sqlx 0.8; this crate is the only place it is allowed).

use std::fmt;
use std::time::Instant;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework, DomainEvent};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    n: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CounterEvent {
    Counted { n: u64, note: String },
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        "Counted".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug)]
pub struct CounterError;

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("counter error")
    }
}

impl std::error::Error for CounterError {}

impl Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = u64;
    type Event = CounterEvent;
    type Error = CounterError;
    type Services = ();

    async fn handle(
        &mut self,
        events: u64,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CounterError> {
        for i in 0..events {
            let event = CounterEvent::Counted {
                n: self.n + i,
                note: "bench".to_owned(),
            };
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, _event: CounterEvent) {
        self.n += 1;
    }
}

/// Runs `commands` commands of `events_per_command` events each, every command on a new
/// aggregate; returns events per second.
pub async fn append_rate(
    url: &str,
    events_table: &str,
    snapshots_table: &str,
    commands: u64,
    events_per_command: u64,
) -> anyhow::Result<f64> {
    // postgres-es's helper panics when the server is absent; main checks reachability first.
    let pool = postgres_es::default_postgress_pool(url).await;
    let repo = PostgresEventRepository::new(pool).with_tables(events_table, snapshots_table);
    let store = PersistedEventStore::<_, Counter>::new_event_store(repo);
    let cqrs = CqrsFramework::new(store, vec![], ());
    let run = uuid::Uuid::new_v4().simple().to_string();
    for w in 0..5 {
        cqrs.execute(&format!("warm-{run}-{w}"), events_per_command)
            .await
            .map_err(|e| anyhow::anyhow!("cqrs-es warm-up: {e}"))?;
    }
    let started = Instant::now();
    for c in 0..commands {
        cqrs.execute(&format!("{run}-{c}"), events_per_command)
            .await
            .map_err(|e| anyhow::anyhow!("cqrs-es execute: {e}"))?;
    }
    Ok((commands * events_per_command) as f64 / started.elapsed().as_secs_f64())
}

/// The peer's tables, as in postgres-es's `db/init.sql`.
pub fn schema(events_table: &str, snapshots_table: &str) -> String {
    format!(
        "CREATE TABLE {events_table} (
            aggregate_type text NOT NULL,
            aggregate_id text NOT NULL,
            sequence bigint CHECK (sequence >= 0) NOT NULL,
            event_type text NOT NULL,
            event_version text NOT NULL,
            payload json NOT NULL,
            metadata json NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, sequence));
         CREATE TABLE {snapshots_table} (
            aggregate_type text NOT NULL,
            aggregate_id text NOT NULL,
            last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
            current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
            payload json NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, last_sequence));"
    )
}
