//! Aggregates and the repository that loads them by replay, runs a command and appends the result.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::event::{ExpectedVersion, Metadata, NewEvent, OutboxMessage, RecordedEvent, Snapshot};
use crate::store::EventStore;

/// A domain event: serialized as the payload, named by `event_type`.
pub trait DomainEvent: Serialize + DeserializeOwned + Send + Sync {
    /// The stored type name, e.g. `OrderPlaced`.
    fn event_type(&self) -> &'static str;

    /// The current schema version of this event's payload (bump it and register an upcaster
    /// when the shape changes).
    fn schema_version(&self) -> u32 {
        1
    }
}

/// A consistency boundary whose state is the fold of its events.
///
/// `handle` decides (command -> events or a domain error) without side effects; `apply` evolves
/// the state and must not fail. The state is serializable so that it can be snapshotted.
pub trait Aggregate: Default + Serialize + DeserializeOwned + Send + Sync {
    /// Stream category: an aggregate with id `42` lives in stream `<KIND>-42`.
    const KIND: &'static str;
    /// What the aggregate can be asked to do.
    type Command: Send;
    /// What it records.
    type Event: DomainEvent;
    /// Why it refuses a command.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Decides which events a command produces in the current state.
    fn handle(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Evolves the state by one event.
    fn apply(&mut self, event: &Self::Event);
}

/// Why [`Repository::execute`] did not record the command's events.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError<E: std::error::Error + 'static> {
    /// The aggregate refused the command.
    #[error("command rejected: {0}")]
    Rejected(#[source] E),
    /// The store failed, or (after the retries) the stream kept moving: [`StoreError::Conflict`].
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An aggregate's state and the stream version it reflects.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The version of the last event folded in (0 for a new aggregate).
    pub version: u64,
}

/// What executing a command recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed<A> {
    /// The state after the new events.
    pub state: A,
    /// The stream version after the append.
    pub version: u64,
    /// How many events the command produced.
    pub events: usize,
}

/// Loads aggregates of type `A` from an [`EventStore`] and records the events of their commands.
#[derive(Debug)]
pub struct Repository<A, S> {
    store: S,
    snapshot_every: Option<u64>,
    page_size: usize,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A, S: Clone> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Repository {
            store: self.store.clone(),
            snapshot_every: self.snapshot_every,
            page_size: self.page_size,
            _aggregate: PhantomData,
        }
    }
}

impl<A: Aggregate, S: EventStore> Repository<A, S> {
    /// A repository without snapshots.
    pub fn new(store: S) -> Self {
        Repository {
            store,
            snapshot_every: None,
            page_size: 1000,
            _aggregate: PhantomData,
        }
    }

    /// Stores a snapshot each time a stream passes a multiple of `every` events (0 turns
    /// snapshots off). Loading then replays only the events after the latest snapshot.
    pub fn snapshot_every(mut self, every: u64) -> Self {
        self.snapshot_every = (every > 0).then_some(every);
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The stream of the aggregate with `id`.
    pub fn stream_id(id: &str) -> String {
        format!("{}-{}", A::KIND, id)
    }

    /// Rebuilds the aggregate: the latest usable snapshot, then every later event.
    ///
    /// A snapshot that no longer deserializes (the state type changed) is ignored and the
    /// stream is replayed from the start.
    pub async fn load(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        let stream = Self::stream_id(id);
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
        };
        if self.snapshot_every.is_some()
            && let Some(snapshot) = self.store.load_snapshot(&stream).await?
            && let Ok(state) = serde_json::from_value::<A>(snapshot.state)
        {
            loaded = Loaded {
                state,
                version: snapshot.version,
            };
        }
        loop {
            let page = self
                .store
                .read_stream(&stream, loaded.version, self.page_size)
                .await?;
            let done = page.len() < self.page_size;
            for recorded in &page {
                loaded.state.apply(&decode_event::<A>(recorded)?);
                loaded.version = recorded.version;
            }
            if done {
                return Ok(loaded);
            }
        }
    }

    /// Loads the aggregate, runs `command` and appends its events expecting the loaded version.
    /// A concurrent writer makes this fail with [`StoreError::Conflict`]; see
    /// [`Repository::execute_with_retry`].
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, RepositoryError<A::Error>> {
        let loaded = self.load(id).await?;
        self.execute_on(id, loaded, command, metadata).await
    }

    /// Like [`Repository::execute`], but on a conflict reloads and decides again, up to
    /// `attempts` times in all.
    pub async fn execute_with_retry(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        attempts: usize,
    ) -> Result<Executed<A>, RepositoryError<A::Error>>
    where
        A::Command: Clone,
    {
        let mut left = attempts.max(1);
        loop {
            left -= 1;
            match self.execute(id, command.clone(), metadata).await {
                Err(RepositoryError::Store(e)) if e.is_conflict() && left > 0 => continue,
                other => return other,
            }
        }
    }

    /// Like [`Repository::execute`], inside `tx`: the aggregate is loaded through `tx` (without
    /// snapshots) and its events commit with whatever else `tx` holds (an inbox row, outgoing
    /// messages), or not at all. `messages` go to the outbox in the same append.
    pub async fn execute_in(
        &self,
        tx: &mut S::Tx,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        messages: &[OutboxMessage],
    ) -> Result<Executed<A>, RepositoryError<A::Error>> {
        let stream = Self::stream_id(id);
        let mut loaded = Loaded {
            state: A::default(),
            version: 0,
        };
        loop {
            let page = self
                .store
                .read_stream_in(tx, &stream, loaded.version, self.page_size)
                .await?;
            let done = page.len() < self.page_size;
            for recorded in &page {
                loaded.state.apply(&decode_event::<A>(recorded)?);
                loaded.version = recorded.version;
            }
            if done {
                break;
            }
        }
        let Loaded { mut state, version } = loaded;
        let (events, new_events) = decide::<A>(&state, command, metadata)?;
        let result = self
            .store
            .append_in(
                tx,
                &stream,
                ExpectedVersion::Exact(version),
                &new_events,
                messages,
            )
            .await?;
        for event in &events {
            state.apply(event);
        }
        Ok(Executed {
            state,
            version: result.version,
            events: events.len(),
        })
    }

    async fn execute_on(
        &self,
        id: &str,
        loaded: Loaded<A>,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Executed<A>, RepositoryError<A::Error>> {
        let Loaded { mut state, version } = loaded;
        let (events, new_events) = decide::<A>(&state, command, metadata)?;
        if events.is_empty() {
            return Ok(Executed {
                state,
                version,
                events: 0,
            });
        }
        let stream = Self::stream_id(id);
        let result = self
            .store
            .append(&stream, ExpectedVersion::Exact(version), &new_events)
            .await?;
        for event in &events {
            state.apply(event);
        }
        if let Some(every) = self.snapshot_every
            && version / every != result.version / every
            && let Ok(state_json) = serde_json::to_value(&state)
        {
            // A snapshot only speeds up loading; the events are already committed, so a
            // failure to store it must not fail the command.
            let _ = self
                .store
                .save_snapshot(&Snapshot {
                    stream_id: stream,
                    version: result.version,
                    state: state_json,
                })
                .await;
        }
        Ok(Executed {
            state,
            version: result.version,
            events: events.len(),
        })
    }
}

/// Runs the command on the state: the domain events and their stored form.
#[allow(clippy::type_complexity)]
fn decide<A: Aggregate>(
    state: &A,
    command: A::Command,
    metadata: &Metadata,
) -> Result<(Vec<A::Event>, Vec<NewEvent>), RepositoryError<A::Error>> {
    let events = state.handle(command).map_err(RepositoryError::Rejected)?;
    let mut new_events = Vec::with_capacity(events.len());
    for event in &events {
        let payload = serde_json::to_value(event).map_err(|source| StoreError::Serde {
            action: "serialize",
            what: event.event_type().to_owned(),
            source,
        })?;
        new_events.push(
            NewEvent::new(event.event_type(), payload)
                .with_schema_version(event.schema_version())
                .with_metadata(metadata.clone()),
        );
    }
    Ok((events, new_events))
}

/// Deserializes a recorded (already upcast) event into the aggregate's event type.
pub fn decode_event<A: Aggregate>(recorded: &RecordedEvent) -> Result<A::Event, StoreError> {
    serde_json::from_value(recorded.payload.clone()).map_err(|source| StoreError::Serde {
        action: "deserialize",
        what: format!(
            "{} at {} v{}",
            recorded.event_type, recorded.stream_id, recorded.version
        ),
        source,
    })
}
