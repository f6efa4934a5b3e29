//! An event store in memory, for users' unit tests: the same contract as the SQL stores
//! (optimistic versions, idempotent retries, transactions, checkpoints, the outbox), no
//! database. Nothing survives the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::OwnedMutexGuard;

use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::event::{
    AppendResult, Checkpoint, ExpectedVersion, NewEvent, OutboxMessage, RecordedEvent, Snapshot,
};
use crate::store::{EventStore, StoredCheckpoint};
use crate::validate::check_append;

#[derive(Debug, Default)]
struct Data {
    events: Vec<RecordedEvent>,
    streams: HashMap<String, Vec<usize>>,
    event_ids: HashMap<uuid::Uuid, usize>,
    snapshots: HashMap<String, Snapshot>,
    checkpoints: HashMap<String, StoredCheckpoint>,
    leases: HashMap<String, (String, Instant)>,
    outbox: Vec<OutboxMessage>,
}

#[derive(Debug)]
struct Inner {
    writer: Arc<tokio::sync::Mutex<()>>,
    data: Mutex<Data>,
}

/// An [`EventStore`] in memory. Clones share the same data. One transaction (or append) writes
/// at a time; reads never wait for it and never see its uncommitted events.
#[derive(Debug, Clone)]
pub struct InMemoryEventStore {
    inner: Arc<Inner>,
    config: StoreConfig,
}

/// A transaction of an [`InMemoryEventStore`]: its appends are kept aside and applied at commit;
/// dropping it discards them.
#[derive(Debug)]
pub struct MemoryTx {
    _writer: OwnedMutexGuard<()>,
    events: Vec<RecordedEvent>,
    outbox: Vec<OutboxMessage>,
}

impl Default for InMemoryEventStore {
    fn default() -> Self {
        Self::new(StoreConfig::new())
    }
}

impl InMemoryEventStore {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        InMemoryEventStore {
            inner: Arc::new(Inner {
                writer: Arc::new(tokio::sync::Mutex::new(())),
                data: Mutex::new(Data::default()),
            }),
            config,
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every outbox message committed so far (events of a publishing store included), in order:
    /// what a relay would publish.
    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.data().outbox.clone()
    }

    fn append_to(
        &self,
        tx: &mut MemoryTx,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        check_append(stream_id, events, messages)?;
        let data = self.data();
        let stored: Vec<&RecordedEvent> = data
            .streams
            .get(stream_id)
            .map(|ix| ix.iter().filter_map(|&i| data.events.get(i)).collect())
            .unwrap_or_default();
        let pending: Vec<&RecordedEvent> = tx
            .events
            .iter()
            .filter(|e| e.stream_id == stream_id)
            .collect();
        let all: Vec<&RecordedEvent> = stored.into_iter().chain(pending).collect();
        let current = all.last().map_or(0, |e| e.version);
        let known = |id: uuid::Uuid| {
            data.event_ids
                .get(&id)
                .and_then(|&i| data.events.get(i))
                .or_else(|| tx.events.iter().find(|e| e.event_id == id))
        };
        if let Some(first) = events.first()
            && let Some(stored) = known(first.event_id)
        {
            let base = stored.version.saturating_sub(1);
            let same_place = stored.stream_id == stream_id
                && expected.required().is_none_or(|v| v == base)
                && events.iter().enumerate().all(|(i, e)| {
                    all.get(base as usize + i)
                        .is_some_and(|s| s.event_id == e.event_id)
                });
            if same_place {
                let mine = &all[base as usize..base as usize + events.len()];
                return Ok(AppendResult {
                    version: base + events.len() as u64,
                    first_position: mine.first().map(|e| e.position),
                    last_position: mine.last().map(|e| e.position),
                    transaction: 0,
                    idempotent_retry: true,
                });
            }
            if expected.required().is_none_or(|v| v == current) {
                return Err(StoreError::DuplicateEventId {
                    event_id: first.event_id,
                    stored_in: stored.stream_id.clone(),
                });
            }
        }
        if let Some(required) = expected.required()
            && required != current
        {
            return Err(StoreError::Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual: current,
            });
        }
        if let Some(dup) = events.iter().skip(1).find(|e| known(e.event_id).is_some()) {
            return Err(StoreError::DuplicateEventId {
                event_id: dup.event_id,
                stored_in: known(dup.event_id)
                    .map(|e| e.stream_id.clone())
                    .unwrap_or_default(),
            });
        }
        let last_at = data
            .events
            .last()
            .map_or(SystemTime::UNIX_EPOCH, |e| e.recorded_at);
        let now = SystemTime::now().max(last_at);
        let mut position = data.events.len() as u64 + tx.events.len() as u64;
        drop(data);
        let (mut first, mut last) = (None, None);
        for (i, e) in events.iter().enumerate() {
            position += 1;
            first.get_or_insert(position);
            last = Some(position);
            tx.events.push(RecordedEvent {
                position,
                transaction: 0,
                stream_id: stream_id.to_owned(),
                version: current + 1 + i as u64,
                event_id: e.event_id,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                payload: e.payload.clone(),
                metadata: e.metadata.clone(),
                recorded_at: now,
            });
            if let Some(subject) = &self.config.publish_subject {
                tx.outbox.push(
                    OutboxMessage::new(
                        format!("{subject}.{}", e.event_type),
                        e.payload.to_string().into_bytes(),
                    )
                    .with_id(e.event_id)
                    .with_header("Mspack-Stream", stream_id)
                    .with_header("Mspack-Version", (current + 1 + i as u64).to_string())
                    .ordered_by(stream_id),
                );
            }
        }
        tx.outbox.extend(messages.iter().cloned());
        Ok(AppendResult {
            version: current + events.len() as u64,
            first_position: first,
            last_position: last,
            transaction: 0,
            idempotent_retry: false,
        })
    }
}

fn read<'a>(events: impl Iterator<Item = &'a RecordedEvent>, limit: usize) -> Vec<RecordedEvent> {
    events.take(limit).cloned().collect()
}

impl EventStore for InMemoryEventStore {
    type Tx = MemoryTx;

    async fn begin(&self) -> Result<MemoryTx, StoreError> {
        Ok(MemoryTx {
            _writer: self.inner.writer.clone().lock_owned().await,
            events: Vec::new(),
            outbox: Vec::new(),
        })
    }

    async fn commit(&self, tx: MemoryTx) -> Result<(), StoreError> {
        let mut data = self.data();
        for event in tx.events {
            let index = data.events.len();
            data.streams
                .entry(event.stream_id.clone())
                .or_default()
                .push(index);
            data.event_ids.insert(event.event_id, index);
            data.events.push(event);
        }
        data.outbox.extend(tx.outbox);
        Ok(())
    }

    async fn append_in(
        &self,
        tx: &mut MemoryTx,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        self.append_to(tx, stream_id, expected, events, messages)
    }

    async fn append_with_outbox(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        let mut tx = self.begin().await?;
        let result = self.append_to(&mut tx, stream_id, expected, events, messages)?;
        self.commit(tx).await?;
        Ok(result)
    }

    async fn read_stream_in(
        &self,
        tx: &mut MemoryTx,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.read_stream(stream_id, after_version, limit).await?;
        let pending = tx
            .events
            .iter()
            .filter(|e| e.stream_id == stream_id && e.version > after_version);
        events.extend(pending.cloned());
        events.truncate(limit);
        Ok(events)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let data = self.data();
        let Some(indexes) = data.streams.get(stream_id) else {
            return Ok(Vec::new());
        };
        let mut events = read(
            indexes
                .iter()
                .filter_map(|&i| data.events.get(i))
                .filter(|e| e.version > after_version),
            limit,
        );
        for e in &mut events {
            self.config.upcasters.upcast(e)?;
        }
        Ok(events)
    }

    async fn read_all(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let data = self.data();
        let start = usize::try_from(after.position).unwrap_or(usize::MAX);
        let mut events = read(data.events.iter().skip(start), limit);
        for e in &mut events {
            self.config.upcasters.upcast(e)?;
        }
        Ok(events)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        let data = self.data();
        Ok(data
            .streams
            .get(stream_id)
            .and_then(|ix| ix.last())
            .and_then(|&i| data.events.get(i))
            .map_or(0, |e| e.version))
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.data().snapshots.get(stream_id).cloned())
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut data = self.data();
        let newer = data
            .snapshots
            .get(&snapshot.stream_id)
            .is_some_and(|s| s.version >= snapshot.version);
        if !newer {
            data.snapshots
                .insert(snapshot.stream_id.clone(), snapshot.clone());
        }
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<StoredCheckpoint, StoreError> {
        Ok(self
            .data()
            .checkpoints
            .get(name)
            .copied()
            .unwrap_or_default())
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        let mut data = self.data();
        let stored = data.checkpoints.entry(name.to_owned()).or_default();
        if stored.checkpoint < checkpoint {
            stored.checkpoint = checkpoint;
        }
        Ok(())
    }

    async fn start_rebuild(&self, name: &str) -> Result<(), StoreError> {
        self.data().checkpoints.insert(
            name.to_owned(),
            StoredCheckpoint {
                checkpoint: Checkpoint::START,
                rebuilding: true,
            },
        );
        Ok(())
    }

    async fn finish_rebuild(&self, name: &str) -> Result<(), StoreError> {
        if let Some(stored) = self.data().checkpoints.get_mut(name) {
            stored.rebuilding = false;
        }
        Ok(())
    }

    async fn lease_projection(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut data = self.data();
        let now = Instant::now();
        match data.leases.get(name) {
            Some((holder, until)) if holder != owner && *until > now => Ok(false),
            _ => {
                data.leases
                    .insert(name.to_owned(), (owner.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }
}
