//! Projections: read models fed from all events in the global order, with a stored checkpoint so
//! they resume after a restart, and a rebuild from the start that survives a crash at any point.
//!
//! Two kinds:
//! - [`TransactionalProjection`]: the read model lives in the store's own database. Each batch
//!   is read, applied and checkpointed in one transaction under a per-projection lock, so every
//!   event is applied exactly once, whatever crashes and however many runners there are, and a
//!   rebuild (reset + checkpoint to the start) is one commit.
//! - [`Projection`]: the read model lives elsewhere (a cache, a search index). Delivery is at least
//!   once; one runner at a time holds the projection's lease; the checkpoint never moves
//!   backwards; a rebuild is recorded before the reset, so a crash in between resets again on
//!   restart instead of leaving an empty read model behind a late checkpoint.

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::sql::Tx;
use crate::sql_store::SqlEventStore;
use crate::store::EventStore;

/// The error a projection's own code returns.
pub type ApplyError = Box<dyn std::error::Error + Send + Sync>;

/// A read model outside the store's database. `apply` should be idempotent (e.g. an upsert):
/// after a crash the events since the last stored checkpoint are applied again.
pub trait Projection: Send {
    /// Unique name; the checkpoint and the lease are stored under it.
    fn name(&self) -> &str;

    /// Folds one event into the read model.
    fn apply(
        &mut self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// Clears the read model before a rebuild (may run more than once after a crash).
    fn reset(&mut self) -> impl Future<Output = Result<(), ApplyError>> + Send;
}

/// A read model in the store's own database: `apply` and `reset` write through the given
/// transaction, which also moves the checkpoint.
pub trait TransactionalProjection: Send {
    /// Unique name; the checkpoint is stored under it.
    fn name(&self) -> &str;

    /// Folds one event into the read model, inside `tx`.
    fn apply(
        &mut self,
        tx: &mut Tx,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// Clears the read model, inside `tx`.
    fn reset(&mut self, tx: &mut Tx) -> impl Future<Output = Result<(), ApplyError>> + Send;
}

/// Why a projection stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Reading events or the checkpoint failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The projection failed on an event; the checkpoint stays before it.
    #[error("projection {name} failed at position {position}: {source}")]
    Apply {
        /// The projection.
        name: String,
        /// The event's global position.
        position: u64,
        /// What the projection reported.
        #[source]
        source: ApplyError,
    },
    /// Clearing the read model failed.
    #[error("projection {name} could not be reset: {source}")]
    Reset {
        /// The projection.
        name: String,
        /// What the projection reported.
        #[source]
        source: ApplyError,
    },
    /// Another runner holds the projection's lease; this one should wait and try again.
    #[error("projection {name} is run by another runner (its lease has not expired)")]
    Leased {
        /// The projection.
        name: String,
    },
}

/// Feeds a [`Projection`] from an [`EventStore`], batch by batch, storing the checkpoint after
/// each batch, while holding the projection's lease.
#[derive(Debug)]
pub struct ProjectionRunner<S, P> {
    store: S,
    projection: P,
    batch_size: usize,
    owner: String,
    lease_ttl: Duration,
}

impl<S: EventStore, P: Projection> ProjectionRunner<S, P> {
    /// A runner reading batches of 500 events, with a 30 s lease under a fresh owner id.
    pub fn new(store: S, projection: P) -> Self {
        ProjectionRunner {
            store,
            projection,
            batch_size: 500,
            owner: uuid::Uuid::new_v4().to_string(),
            lease_ttl: Duration::from_secs(30),
        }
    }

    /// Reads `size` events per batch (at least 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// Runs under this owner name (a restarted runner with the same name takes its lease back at
    /// once) with leases of `ttl`.
    pub fn lease(mut self, owner: impl Into<String>, ttl: Duration) -> Self {
        self.owner = owner.into();
        self.lease_ttl = ttl;
        self
    }

    /// The projection (to query the read model).
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Gives the projection back.
    pub fn into_projection(self) -> P {
        self.projection
    }

    async fn take_lease(&self, name: &str) -> Result<(), ProjectionError> {
        if self
            .store
            .lease_projection(name, &self.owner, self.lease_ttl)
            .await?
        {
            Ok(())
        } else {
            Err(ProjectionError::Leased {
                name: name.to_owned(),
            })
        }
    }

    async fn reset(&mut self, name: &str) -> Result<(), ProjectionError> {
        self.projection
            .reset()
            .await
            .map_err(|source| ProjectionError::Reset {
                name: name.to_owned(),
                source,
            })?;
        self.store.finish_rebuild(name).await?;
        Ok(())
    }

    /// Applies one batch after the stored checkpoint; returns how many events it applied.
    /// Finishes an interrupted rebuild (resets the read model) first.
    pub async fn run_once(&mut self) -> Result<usize, ProjectionError> {
        let name = self.projection.name().to_owned();
        self.take_lease(&name).await?;
        let stored = self.store.load_checkpoint(&name).await?;
        if stored.rebuilding {
            self.reset(&name).await?;
        }
        let events = self
            .store
            .read_all(stored.checkpoint, self.batch_size)
            .await?;
        let Some(last) = events.last().map(RecordedEvent::checkpoint) else {
            return Ok(0);
        };
        for event in &events {
            self.projection
                .apply(event)
                .await
                .map_err(|source| ProjectionError::Apply {
                    name: name.clone(),
                    position: event.position,
                    source,
                })?;
        }
        self.store.save_checkpoint(&name, last).await?;
        Ok(events.len())
    }

    /// Applies batches until no event is left after the checkpoint; returns how many it applied.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let mut total = 0u64;
        loop {
            let n = self.run_once().await?;
            total += n as u64;
            if n < self.batch_size {
                return Ok(total);
            }
        }
    }

    /// Rebuilds from the start: records the rebuild (checkpoint at the start, rebuilding mark)
    /// in one write, clears the read model, then replays every event. A crash anywhere in
    /// between leaves the mark, and the next run clears the read model again before applying.
    pub async fn rebuild(&mut self) -> Result<u64, ProjectionError> {
        let name = self.projection.name().to_owned();
        self.take_lease(&name).await?;
        self.store.start_rebuild(&name).await?;
        self.reset(&name).await?;
        self.catch_up().await
    }
}

/// Feeds a [`TransactionalProjection`] from a [`SqlEventStore`]: each batch is read, applied and
/// checkpointed in one transaction, under a lock per projection (two runners take turns; neither
/// applies an event twice or moves the checkpoint back).
#[derive(Debug)]
pub struct TransactionalRunner<P> {
    store: SqlEventStore,
    projection: P,
    batch_size: usize,
}

impl<P: TransactionalProjection> TransactionalRunner<P> {
    /// A runner reading batches of 500 events.
    pub fn new(store: SqlEventStore, projection: P) -> Self {
        TransactionalRunner {
            store,
            projection,
            batch_size: 500,
        }
    }

    /// Reads `size` events per batch (at least 1).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Applies one batch in one transaction; returns how many events it applied.
    pub async fn run_once(&mut self) -> Result<usize, ProjectionError> {
        let name = self.projection.name().to_owned();
        let mut tx = self.store.begin().await?;
        self.store.lock_projection_in(&mut tx, &name).await?;
        let stored = self.store.load_checkpoint_in(&mut tx, &name).await?;
        let events = self
            .store
            .read_all_in(&mut tx, stored.checkpoint, self.batch_size)
            .await?;
        let Some(last) = events.last().map(RecordedEvent::checkpoint) else {
            return Ok(0);
        };
        for event in &events {
            self.projection
                .apply(&mut tx, event)
                .await
                .map_err(|source| ProjectionError::Apply {
                    name: name.clone(),
                    position: event.position,
                    source,
                })?;
        }
        self.store.save_checkpoint_in(&mut tx, &name, last).await?;
        self.store.commit(tx).await?;
        Ok(events.len())
    }

    /// Applies batches until no event is left after the checkpoint.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let mut total = 0u64;
        loop {
            let n = self.run_once().await?;
            total += n as u64;
            if n < self.batch_size {
                return Ok(total);
            }
        }
    }

    /// Clears the read model and moves the checkpoint to the start in one transaction, then
    /// replays every event.
    pub async fn rebuild(&mut self) -> Result<u64, ProjectionError> {
        let name = self.projection.name().to_owned();
        let mut tx = self.store.begin().await?;
        self.store.lock_projection_in(&mut tx, &name).await?;
        self.projection
            .reset(&mut tx)
            .await
            .map_err(|source| ProjectionError::Reset {
                name: name.clone(),
                source,
            })?;
        self.store.reset_checkpoint_in(&mut tx, &name).await?;
        self.store.commit(tx).await?;
        self.catch_up().await
    }
}
