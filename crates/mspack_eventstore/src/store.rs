//! The `EventStore` trait and a store that is either backend, chosen at run time.

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::config::StoreConfig;
use crate::database::Database;
use crate::error::StoreError;
use crate::event::{
    AppendResult, ExpectedVersion, NewEvent, OutboxMessage, RecordedEvent, Snapshot,
};
use crate::postgres::PostgresEventStore;
use crate::sqlite::SqliteEventStore;

/// An append-only log of events grouped in streams, with snapshots and projection checkpoints.
///
/// Every implementation guarantees: an append is atomic; with an expected version it either
/// writes versions `expected + 1 ..= expected + n` or fails with [`StoreError::Conflict`];
/// global positions grow in commit order, so reading all events after a checkpoint never misses
/// one that commits later.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// Appends `events` to `stream_id` and writes `messages` to the outbox, in one transaction.
    /// If the store publishes events, each event gets an outbox row too.
    fn append_with_outbox(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Appends `events` to `stream_id` atomically, checking `expected` first.
    fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send {
        self.append_with_outbox(stream_id, expected, events, &[])
    }

    /// Up to `limit` events of `stream_id` with a version above `after_version`, in order.
    fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events of all streams with a global position above `after_position`.
    fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The version of the last event in `stream_id` (0 when the stream does not exist).
    fn stream_version(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The latest snapshot of `stream_id`, if any.
    fn load_snapshot(
        &self,
        stream_id: &str,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Stores `snapshot` unless a newer one is already stored.
    fn save_snapshot(
        &self,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stored checkpoint (last processed global position) of projection `name`, 0 if none.
    fn load_checkpoint(&self, name: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Stores the checkpoint of projection `name`.
    fn save_checkpoint(
        &self,
        name: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The database the store writes to (the outbox relay and sagas share it).
    fn database(&self) -> &Database;

    /// The store's settings.
    fn config(&self) -> &StoreConfig;
}

/// An event store on whichever backend a URL names: the embedded SQLite default or PostgreSQL.
#[derive(Debug, Clone)]
pub enum AnyEventStore {
    /// SQLite.
    Sqlite(SqliteEventStore),
    /// PostgreSQL.
    Postgres(PostgresEventStore),
}

impl AnyEventStore {
    /// Opens the database at `url` (see [`Database::connect`]) and migrates it.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        Self::new(Database::connect(url).await?, config).await
    }

    /// Wraps an open database, migrating it.
    pub async fn new(db: Database, config: StoreConfig) -> Result<Self, StoreError> {
        Ok(match db {
            Database::Sqlite(pool) => {
                AnyEventStore::Sqlite(SqliteEventStore::new(pool, config).await?)
            }
            Database::Postgres(pool) => {
                AnyEventStore::Postgres(PostgresEventStore::new(pool, config).await?)
            }
        })
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyEventStore::Sqlite($s) => $call,
            AnyEventStore::Postgres($s) => $call,
        }
    };
}

impl EventStore for AnyEventStore {
    async fn append_with_outbox(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        delegate!(self, s => s.append_with_outbox(stream_id, expected, events, messages).await)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        delegate!(self, s => s.read_stream(stream_id, after_version, limit).await)
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        delegate!(self, s => s.read_all(after_position, limit).await)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        delegate!(self, s => s.stream_version(stream_id).await)
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        delegate!(self, s => s.load_snapshot(stream_id).await)
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        delegate!(self, s => s.save_snapshot(snapshot).await)
    }

    async fn load_checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        delegate!(self, s => s.load_checkpoint(name).await)
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        delegate!(self, s => s.save_checkpoint(name, position).await)
    }

    fn database(&self) -> &Database {
        delegate!(self, s => s.database())
    }

    fn config(&self) -> &StoreConfig {
        delegate!(self, s => s.config())
    }
}

/// Microseconds since the Unix epoch, as stored by SQLite tables.
pub(crate) fn unix_micros(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The instant `micros` microseconds after the Unix epoch (clamped at the epoch).
pub(crate) fn from_unix_micros(micros: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// A `usize` limit as the `i64` SQL wants.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Headers as a JSON object, as stored in the outbox.
pub(crate) fn headers_json(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}
