//! Event store for mspack services: events are the source of truth.
//!
//! - [`EventStore`]: `append(stream, expected_version, events)` is atomic and optimistic: a stale
//!   expected version is [`StoreError::Conflict`], never a lost or duplicated version, and a
//!   retry of an append that already committed (its reply was lost) returns the same result
//!   instead of writing twice. Streams are read forward by version; all events are read in the
//!   global order from a [`Checkpoint`], and a reader that has passed a checkpoint never later
//!   finds an event before it, while writers of different streams commit in parallel.
//! - [`SqlEventStore`] on SQLite (the embedded default; WAL, `synchronous = FULL`, a file or
//!   `:memory:`) or PostgreSQL (one prepared function call per append), chosen by URL
//!   ([`database_url_from_env`]); it migrates itself on open, idempotently.
//!   [`InMemoryEventStore`] keeps the same contract without a database, for unit tests.
//! - Transactions: [`EventStore::append_in`] (and [`Repository::execute_in`]) write inside a
//!   [`Tx`], so a consumer's inbox row, its events and its outgoing messages commit together.
//! - Every event carries [`Metadata`] (correlation id, causation id, W3C `traceparent`) beside its
//!   id, stream, version, global position, timestamp, type and schema version; [`Upcasters`]
//!   turn old schema versions into the current one on read.
//! - [`Aggregate`] + [`Repository`]: load by replay from the latest [`Snapshot`] (every N events),
//!   decide, append.
//! - Projections with a stored checkpoint that resume after a restart and rebuild from the start
//!   without losing the read model on a crash: [`TransactionalRunner`] (read model in the same
//!   database, exactly once) and [`ProjectionRunner`] (elsewhere, at least once, leased).
//! - Outbox rows ([`OutboxMessage`], and optionally every event via
//!   [`StoreConfig::publish_events`]) are written in the append's transaction and checked first
//!   ([`validate`]); the `mspack_outbox` crate relays them to NATS JetStream.
//! - [`sql`]: the one SQL layer the consistency crates share.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mspack_eventstore::StoreError> {
//! use mspack_eventstore::{EventStore, ExpectedVersion, NewEvent, SqlEventStore, StoreConfig};
//! let store = SqlEventStore::open_sqlite(":memory:", StoreConfig::new()).await?;
//! let placed = NewEvent::new("OrderPlaced", serde_json::json!({"order": 42}));
//! let result = store.append("order-42", ExpectedVersion::NoStream, &[placed]).await?;
//! assert_eq!(result.version, 1);
//! # Ok(()) }
//! ```

mod aggregate;
mod config;
mod error;
mod event;
mod memory;
pub mod migrate;
mod outbox;
mod projection;
mod schema;
pub mod sql;
mod sql_store;
mod store;
mod telemetry;
mod upcast;
pub mod validate;

pub use aggregate::{
    Aggregate, DomainEvent, Executed, Loaded, Repository, RepositoryError, decode_event,
};
pub use config::{StoreConfig, TablePrefix};
pub use error::StoreError;
pub use event::{
    AppendResult, Checkpoint, ExpectedVersion, Metadata, NewEvent, OutboxMessage, RecordedEvent,
    Snapshot,
};
pub use memory::{InMemoryEventStore, MemoryTx};
pub use migrate::{Migration, migrate};
pub use outbox::enqueue_in;
pub use projection::{
    ApplyError, Projection, ProjectionError, ProjectionRunner, TransactionalProjection,
    TransactionalRunner,
};
pub use schema::{OUTBOX_PARTITIONS, migrate_store, outbox_partition};
pub use sql::{Backend, DEFAULT_DATABASE_URL, Database, Tx, database_url_from_env};
pub use sql_store::SqlEventStore;
pub use store::{EventStore, StoredCheckpoint};
pub use telemetry::{METER, client_span};
pub use upcast::Upcasters;
