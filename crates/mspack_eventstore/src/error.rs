//! The error type every event store operation returns.

use crate::event::ExpectedVersion;

/// What went wrong in an event store, snapshot, checkpoint or migration operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version: someone else appended first. Reload and retry.
    #[error("stream \"{stream}\" is at version {actual}, not at the expected {expected}")]
    Conflict {
        /// The stream appended to.
        stream: String,
        /// The version the caller expected.
        expected: ExpectedVersion,
        /// The version the stream actually had.
        actual: u64,
    },
    /// An append or message that could never be published or read back (an event type that is
    /// not a subject token, a header with CR/LF, an empty stream id): nothing was written.
    #[error("invalid append to \"{stream}\": {reason}")]
    Invalid {
        /// The stream appended to (empty for a message outside an append).
        stream: String,
        /// What is wrong, naming the value.
        reason: String,
    },
    /// An event id that is already stored, but not as an earlier attempt of this same append
    /// (different stream, place or batch): event ids are unique store-wide.
    #[error("event {event_id} is already stored in stream \"{stored_in}\"; event ids are unique")]
    DuplicateEventId {
        /// The event id.
        event_id: uuid::Uuid,
        /// The stream that holds it.
        stored_in: String,
    },
    /// PostgreSQL: the stream's last event was written by a transaction newer than this one
    /// (this transaction wrote something else first, an inbox claim, before that event was
    /// committed). Appending now would list the new event before the last one in the global
    /// order, so nothing was written: roll back and retry the whole unit of work in a new
    /// transaction. Transient.
    #[error(
        "stream \"{stream}\": its last event is from a newer transaction; retry in a new transaction"
    )]
    OutOfOrder {
        /// The stream appended to.
        stream: String,
    },
    /// A table prefix that is not a plain SQL identifier.
    #[error("table prefix {0:?} must match [a-z][a-z0-9_]* and be at most 40 characters")]
    InvalidPrefix(String),
    /// A database URL this crate does not know how to open.
    #[error("database url {0:?} is neither sqlite (a path, `:memory:` or `sqlite:`) nor postgres")]
    UnsupportedUrl(String),
    /// The database could not be reached or a statement failed.
    #[error("database error during {operation}: {source}")]
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A stored row could not be turned back into a value (bad UUID, bad JSON, bad number).
    #[error("stored {what} is malformed: {detail}")]
    Corrupt {
        /// Which column or value.
        what: &'static str,
        /// Why it did not decode.
        detail: String,
    },
    /// An event payload or state could not be serialized or deserialized.
    #[error("could not {action} {what}: {source}")]
    Serde {
        /// `serialize` or `deserialize`.
        action: &'static str,
        /// Which value, e.g. the event type.
        what: String,
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
    },
    /// An upcaster failed to turn an old schema version into the next one.
    #[error("upcasting {event_type} from schema version {from_version} failed: {reason}")]
    Upcast {
        /// The event type being upcast.
        event_type: String,
        /// The schema version the upcaster started from.
        from_version: u32,
        /// What the upcaster reported.
        reason: String,
    },
    /// A number stored or requested does not fit the type used for it.
    #[error("{what} {value} is out of range")]
    OutOfRange {
        /// Which number.
        what: &'static str,
        /// The offending value.
        value: i128,
    },
}

impl StoreError {
    /// Wraps a driver error with what the store was doing.
    pub fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { operation, source }
    }

    /// True for [`StoreError::Conflict`]: the caller should reload and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// True when the database was unreachable or dropped the connection (a terminated backend,
    /// a restart, a pool timeout): the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => crate::sql::is_transient(source),
            StoreError::OutOfOrder { .. } => true,
            _ => false,
        }
    }
}

/// Converts a non-negative database integer into `u64`.
pub(crate) fn to_u64(what: &'static str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::OutOfRange {
        what,
        value: value.into(),
    })
}

/// Converts a `u64` into the signed integer both databases store.
pub(crate) fn to_i64(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        what,
        value: value.into(),
    })
}
