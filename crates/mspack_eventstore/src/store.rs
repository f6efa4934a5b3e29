//! The `EventStore` trait: what every store (SQLite, PostgreSQL, in memory) guarantees.

use std::future::Future;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::event::{
    AppendResult, Checkpoint, ExpectedVersion, NewEvent, OutboxMessage, RecordedEvent, Snapshot,
};

/// A stored projection checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The last applied event.
    pub checkpoint: Checkpoint,
    /// A rebuild was started and the read model may not have been cleared yet: clear it before
    /// applying anything (see [`crate::ProjectionRunner::rebuild`]).
    pub rebuilding: bool,
}

/// An append-only log of events grouped in streams, with snapshots and projection checkpoints.
///
/// Every implementation guarantees: an append is atomic; with an expected version it either
/// writes versions `expected + 1 ..= expected + n` or fails with [`StoreError::Conflict`];
/// retrying an append that already committed (same event ids, same place) returns its result
/// again instead of failing or writing twice; reading all events in the global order
/// ([`EventStore::read_all`] from a [`Checkpoint`]) never misses an event that commits later.
///
/// `Tx` is the store's transaction: [`EventStore::append_in`] writes in it, so a consumer's
/// inbox row, its events and its outgoing messages commit together.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// A transaction of this store.
    type Tx: Send;

    /// Starts a transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;

    /// Commits a transaction.
    fn commit(&self, tx: Self::Tx) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends `events` to `stream_id` and writes `messages` to the outbox inside `tx`: they
    /// commit (or roll back) with whatever else `tx` holds. If the store publishes events, each
    /// event gets an outbox row too.
    fn append_in(
        &self,
        tx: &mut Self::Tx,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> impl Future<Output = Result<AppendResult, StoreError>> + Send;

    /// Appends `events` to `stream_id` and writes `messages` to the outbox, in one transaction
    /// of its own.
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

    /// Up to `limit` events of `stream_id` with a version above `after_version`, in order, read
    /// inside `tx` (so it sees what `tx` wrote).
    fn read_stream_in(
        &self,
        tx: &mut Self::Tx,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events of `stream_id` with a version above `after_version`, in order.
    fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// Up to `limit` events after `after` in the global order (see [`Checkpoint`]).
    fn read_all(
        &self,
        after: Checkpoint,
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

    /// The stored checkpoint of projection `name` ([`Checkpoint::START`] if none).
    fn load_checkpoint(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<StoredCheckpoint, StoreError>> + Send;

    /// Moves the checkpoint of projection `name` forward to `checkpoint`; a checkpoint at or past
    /// it is left alone (two runners never move it backwards).
    fn save_checkpoint(
        &self,
        name: &str,
        checkpoint: Checkpoint,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the checkpoint of `name` to the start and marks it rebuilding, in one write.
    fn start_rebuild(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Clears the rebuilding mark of `name` (the read model was reset).
    fn finish_rebuild(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes or renews the lease of projection `name` for `owner` for `ttl`; false while another
    /// owner holds an unexpired lease.
    fn lease_projection(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The store's settings.
    fn config(&self) -> &StoreConfig;
}
