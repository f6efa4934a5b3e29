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

/// An event as stored: the new event plus the stream, its version and its global position.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Position in the store-wide order of all events (starts at 1, increases with commit order;
    /// may have gaps where a transaction rolled back).
    pub position: u64,
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
    /// When the event was committed.
    pub recorded_at: SystemTime,
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
    /// Message headers (e.g. `traceparent`); `Nats-Msg-Id` is added by the relay.
    pub headers: Vec<(String, String)>,
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
