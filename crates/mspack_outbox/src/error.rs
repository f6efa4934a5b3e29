//! The error type of the relay, the inbox and the NATS helpers.

/// What went wrong while relaying, consuming or talking to NATS.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The event store's database, schema or validation failed.
    #[error(transparent)]
    Store(#[from] mspack_eventstore::StoreError),
    /// A statement on the outbox or inbox tables failed.
    #[error("database error during {operation}: {source}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// NATS could not be reached or refused a request.
    #[error("nats error during {operation}: {detail}")]
    Nats {
        /// What was being done.
        operation: &'static str,
        /// The client's error, as text (async-nats has one error type per operation).
        detail: String,
    },
    /// An existing JetStream stream is configured below what the outbox's guarantees need.
    #[error("stream {stream}: {problem}")]
    StreamMismatch {
        /// The stream.
        stream: String,
        /// What differs, and what to change.
        problem: String,
    },
}

impl OutboxError {
    pub(crate) fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> OutboxError {
        move |source| OutboxError::Database { operation, source }
    }

    pub(crate) fn nats<E: std::fmt::Display>(
        operation: &'static str,
    ) -> impl FnOnce(E) -> OutboxError {
        move |e| OutboxError::Nats {
            operation,
            detail: e.to_string(),
        }
    }
}
