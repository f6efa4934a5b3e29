//! Projections: read models fed from all events in global order, with a stored checkpoint so they
//! resume after a restart, and a rebuild from position 0.

use std::future::Future;

use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::store::EventStore;

/// A read model built from events. Delivery is at least once: after a crash the events since the
/// last stored checkpoint are applied again, so `apply` should be idempotent (e.g. an upsert).
pub trait Projection: Send {
    /// Unique name; the checkpoint is stored under it.
    fn name(&self) -> &str;

    /// Folds one event into the read model.
    fn apply(
        &mut self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send;

    /// Clears the read model before a rebuild.
    fn reset(
        &mut self,
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send;
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
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Clearing the read model failed.
    #[error("projection {name} could not be reset: {source}")]
    Reset {
        /// The projection.
        name: String,
        /// What the projection reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Feeds a [`Projection`] from an [`EventStore`], batch by batch, storing the checkpoint after
/// each batch.
#[derive(Debug)]
pub struct ProjectionRunner<S, P> {
    store: S,
    projection: P,
    batch_size: usize,
}

impl<S: EventStore, P: Projection> ProjectionRunner<S, P> {
    /// A runner reading batches of 500 events.
    pub fn new(store: S, projection: P) -> Self {
        ProjectionRunner {
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

    /// The projection (to query the read model).
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Gives the projection back.
    pub fn into_projection(self) -> P {
        self.projection
    }

    /// Applies one batch after the stored checkpoint; returns how many events it applied.
    pub async fn run_once(&mut self) -> Result<usize, ProjectionError> {
        let name = self.projection.name().to_owned();
        let checkpoint = self.store.load_checkpoint(&name).await?;
        let events = self.store.read_all(checkpoint, self.batch_size).await?;
        let Some(last) = events.last().map(|e| e.position) else {
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

    /// Clears the read model, sets the checkpoint to 0 and replays every event.
    pub async fn rebuild(&mut self) -> Result<u64, ProjectionError> {
        let name = self.projection.name().to_owned();
        self.projection
            .reset()
            .await
            .map_err(|source| ProjectionError::Reset {
                name: name.clone(),
                source,
            })?;
        self.store.save_checkpoint(&name, 0).await?;
        self.catch_up().await
    }
}
