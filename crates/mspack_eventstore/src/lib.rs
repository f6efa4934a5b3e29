//! Event store for mspack services: events are the source of truth.
//!
//! - [`EventStore`]: `append(stream, expected_version, events)` is atomic and optimistic — a stale
//!   expected version is [`StoreError::Conflict`], never a lost or duplicated version. Streams
//!   are read forward by version; all events are read by global position, which follows commit
//!   order (a reader past position N never later finds an event below N).
//! - Backends: [`SqliteEventStore`] (embedded default; WAL, `synchronous = FULL`, a file or
//!   `:memory:`) and [`PostgresEventStore`] (one prepared function call per append, batches as
//!   arrays). [`AnyEventStore`] picks one from a URL such as [`database_url_from_env`].
//!   Both migrate themselves on open through [`migrate()`], idempotently.
//! - Every event carries [`Metadata`] (correlation id, causation id, W3C `traceparent`) beside its
//!   id, stream, version, global position, timestamp, type and schema version; [`Upcasters`]
//!   turn old schema versions into the current one on read.
//! - [`Aggregate`] + [`Repository`]: load by replay from the latest [`Snapshot`] (every N events),
//!   decide, append.
//! - [`Projection`] + [`ProjectionRunner`]: read models with a stored checkpoint that resume after
//!   a restart and can be rebuilt from position 0.
//! - Outbox rows ([`OutboxMessage`], and optionally every event via
//!   [`StoreConfig::publish_events`]) are written in the append's transaction; the
//!   `mspack_outbox` crate relays them to NATS JetStream.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mspack_eventstore::StoreError> {
//! use mspack_eventstore::{EventStore, ExpectedVersion, NewEvent, SqliteEventStore, StoreConfig};
//! let store = SqliteEventStore::open(":memory:", StoreConfig::new()).await?;
//! let placed = NewEvent::new("OrderPlaced", serde_json::json!({"order": 42}));
//! let result = store.append("order-42", ExpectedVersion::NoStream, &[placed]).await?;
//! assert_eq!(result.version, 1);
//! # Ok(()) }
//! ```

mod aggregate;
mod config;
mod database;
mod error;
mod event;
pub mod migrate;
mod postgres;
mod projection;
mod schema;
mod sqlite;
mod store;
mod upcast;

pub use aggregate::{
    Aggregate, DomainEvent, Executed, Loaded, Repository, RepositoryError, decode_event,
};
pub use config::{StoreConfig, TablePrefix};
pub use database::{DEFAULT_DATABASE_URL, Database, database_url_from_env};
pub use error::StoreError;
pub use event::{
    AppendResult, ExpectedVersion, Metadata, NewEvent, OutboxMessage, RecordedEvent, Snapshot,
};
pub use migrate::{Migration, migrate};
pub use postgres::PostgresEventStore;
pub use projection::{Projection, ProjectionError, ProjectionRunner};
pub use schema::migrate_store;
pub use sqlite::SqliteEventStore;
pub use store::{AnyEventStore, EventStore};
pub use upcast::Upcasters;
