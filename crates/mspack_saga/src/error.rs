//! The error type of the saga orchestrator and participants.

/// What went wrong while running a saga.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The database or schema failed.
    #[error(transparent)]
    Store(#[from] mspack_eventstore::StoreError),
    /// The outbox, inbox or NATS failed.
    #[error(transparent)]
    Outbox(#[from] mspack_outbox::OutboxError),
    /// A statement on the saga table failed.
    #[error("database error during {operation}: {source}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// No definition is registered under this saga type.
    #[error("unknown saga type {0:?}")]
    UnknownSagaType(String),
    /// A definition that cannot run (duplicate step names, ...).
    #[error("invalid saga definition: {0}")]
    InvalidDefinition(String),
    /// No definition of this saga type and version is registered here.
    #[error("saga type {name:?} version {version} is not registered in this orchestrator")]
    UnknownVersion {
        /// The saga type.
        name: String,
        /// The version.
        version: u32,
    },
    /// The saga is not in a state this operation applies to.
    #[error("saga {id} is {status}: {detail}")]
    WrongStatus {
        /// The saga.
        id: uuid::Uuid,
        /// Its status.
        status: &'static str,
        /// What was asked.
        detail: String,
    },
    /// A saga type without steps.
    #[error("saga type {0:?} has no steps")]
    NoSteps(String),
    /// A saga with this id already exists.
    #[error("saga {0} already started")]
    AlreadyStarted(uuid::Uuid),
    /// A stored saga row holds a value this version cannot read.
    #[error("saga {id} is malformed: {detail}")]
    Corrupt {
        /// The saga id.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// A command or reply body is not valid JSON of the expected shape.
    #[error("bad saga message: {0}")]
    BadMessage(String),
    /// NATS failed.
    #[error("nats error during {operation}: {detail}")]
    Nats {
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        detail: String,
    },
}

impl SagaError {
    /// True for a lost database connection or the like: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            SagaError::Database { source, .. } => mspack_eventstore::sql::is_transient(source),
            SagaError::Store(e) => e.is_transient(),
            SagaError::Outbox(mspack_outbox::OutboxError::Database { source, .. }) => {
                mspack_eventstore::sql::is_transient(source)
            }
            SagaError::Outbox(mspack_outbox::OutboxError::Store(e)) => e.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> SagaError {
        move |source| SagaError::Database { operation, source }
    }

    pub(crate) fn nats<E: std::fmt::Display>(
        operation: &'static str,
    ) -> impl FnOnce(E) -> SagaError {
        move |e| SagaError::Nats {
            operation,
            detail: e.to_string(),
        }
    }
}
