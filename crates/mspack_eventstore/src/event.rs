//! The values that go into and come out of a stream: new events, recorded events, metadata.

use std::fmt;
use std::time::SystemTime;

use serde_json::Value;
use uuid::Uuid;

/// Where the caller believes a stream is before appending to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the current version is (no concurrency check).
    Any,
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream's last event must have exactly this version (`Exact(0)` is the same as
    /// [`ExpectedVersion::NoStream`]).
    Exact(u64),
}

impl ExpectedVersion {
    /// The version the stream must be at, if the caller checks it.
    pub fn required(self) -> Option<u64> {
        match self {
            ExpectedVersion::Any => None,
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exact(v) => Some(v),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("0 (no stream)"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Context that travels with an event: which request caused it and the W3C trace it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Shared by every event and message of one business transaction (e.g. the order id).
    pub correlation_id: Option<Uuid>,
    /// The id of the command or event that directly caused this event.
    pub causation_id: Option<Uuid>,
    /// W3C `traceparent` (`00-<trace-id>-<span-id>-<flags>`) of the span that produced the event.
    pub traceparent: Option<String>,
}

impl Metadata {
    /// Metadata for an event caused by `cause`: same correlation and trace, causation = its id.
    pub fn caused_by(cause: &RecordedEvent) -> Self {
        Metadata {
            correlation_id: cause.metadata.correlation_id.or(Some(cause.event_id)),
            causation_id: Some(cause.event_id),
            traceparent: cause.metadata.traceparent.clone(),
        }
    }
}

/// An event to append: its type, the schema version of its payload, the payload and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Unique id; also the `Nats-Msg-Id` when the event is published, so retries dedupe.
    pub event_id: Uuid,
    /// Type name, e.g. `OrderPlaced`.
    pub event_type: String,
    /// Version of the payload's shape; readers upcast older versions.
    pub schema_version: u32,
    /// The event body as JSON.
    pub payload: Value,
    /// Correlation, causation and trace context.
    pub metadata: Metadata,
}

impl NewEvent {
    /// A new event with a fresh time-ordered id (UUID v7), schema version 1 and no metadata.
    pub fn new(event_type: impl Into<String>, payload: Value) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: Metadata::default(),
        }
    }

    /// Sets the schema version of the payload.
    pub fn with_schema_version(mut self, version: u32) -> Self {
        self.schema_version = version;
        self
    }

    /// Sets correlation, causation and trace context.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Where a reader of the global order of all events is: after every event of the transactions
/// ordered before `transaction`, and after the events of `transaction` up to `position`.
///
/// The global order is (`transaction`, `position`): on PostgreSQL `transaction` is the id of the
/// appending transaction (`pg_current_xact_id()`), and readers only see transactions below the
/// oldest one still in flight, so a reader that has passed a checkpoint never later finds an
/// event before it, while writers of different streams commit in parallel. On SQLite (one writer
/// at a time) and in memory, `transaction` is 0 and positions follow commit order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checkpoint {
    /// The appending transaction (0 on SQLite and in memory).
    pub transaction: u64,
    /// The event's global position (unique, increasing within a transaction).
    pub position: u64,
}

impl Checkpoint {
    /// Before every event.
    pub const START: Checkpoint = Checkpoint {
        transaction: 0,
        position: 0,
    };
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.transaction == 0 {
            write!(f, "{}", self.position)
        } else {
            write!(f, "{}:{}", self.transaction, self.position)
        }
    }
}

/// An event as stored: the new event plus the stream, its version and its global position.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Unique store-wide number of the event (starts at 1; may have gaps where a transaction
    /// rolled back). Read in the global order with [`RecordedEvent::checkpoint`].
    pub position: u64,
    /// The appending transaction, the first key of the global order (0 on SQLite and in
    /// memory); see [`Checkpoint`].
    pub transaction: u64,
    /// The stream the event belongs to.
    pub stream_id: String,
    /// Version within the stream: 1, 2, 3, ... without gaps.
    pub version: u64,
    /// Unique event id.
    pub event_id: Uuid,
    /// Type name.
    pub event_type: String,
    /// Schema version after upcasting (the current one when an upcaster is registered).
    pub schema_version: u32,
    /// The body as JSON, upcast to the current schema version.
    pub payload: Value,
    /// Correlation, causation and trace context.
    pub metadata: Metadata,
    /// When the event was written: never before the stream's previous event; on SQLite and in
    /// memory also never before any event earlier in the global order.
    pub recorded_at: SystemTime,
}

impl RecordedEvent {
    /// The checkpoint just after this event in the global order.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            transaction: self.transaction,
            position: self.position,
        }
    }
}

/// A message to publish through the outbox, written in the same transaction as the events.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Unique id, sent as `Nats-Msg-Id` so the broker drops a republished copy.
    pub message_id: Uuid,
    /// NATS subject to publish on.
    pub subject: String,
    /// Message body.
    pub payload: Vec<u8>,
    /// Message headers (e.g. `traceparent`); `Nats-Msg-Id` is added by the relay. Names are
    /// printable ASCII without `:`; values contain no CR or LF (checked when written).
    pub headers: Vec<(String, String)>,
    /// Messages with the same key are published in the order they were written, by any number
    /// of relays (`None`: the subject is the key). Events published by the store use their
    /// stream id.
    pub ordering_key: Option<String>,
}

impl OutboxMessage {
    /// A message with a fresh id (UUID v7), no headers, ordered by its subject.
    pub fn new(subject: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        OutboxMessage {
            message_id: Uuid::now_v7(),
            subject: subject.into(),
            payload: payload.into(),
            headers: Vec::new(),
            ordering_key: None,
        }
    }

    /// Sets the message id (`Nats-Msg-Id`; the broker drops a copy with the same id).
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.message_id = id;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the ordering key.
    pub fn ordered_by(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    /// The key that orders this message: its ordering key, or else its subject.
    pub fn key(&self) -> &str {
        self.ordering_key.as_deref().unwrap_or(&self.subject)
    }
}

/// Where an append put the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append: pass it as the next expected version.
    pub version: u64,
    /// Global position of the first appended event (`None` for an empty append).
    pub first_position: Option<u64>,
    /// Global position of the last appended event.
    pub last_position: Option<u64>,
    /// The appending transaction (0 on SQLite and in memory): with `last_position`, the
    /// checkpoint just after the append.
    pub transaction: u64,
    /// True when the events were already stored by an earlier attempt of the same append (same
    /// event ids, same place in the stream): nothing was written this time.
    pub idempotent_retry: bool,
}

/// A stored aggregate state at a stream version, so loading replays only later events.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stream the state was built from.
    pub stream_id: String,
    /// The version of the last event folded into the state.
    pub version: u64,
    /// The state as JSON.
    pub state: Value,
}
