//! Orchestrated sagas as persisted state machines.
//!
//! A [`SagaDefinition`] is an ordered list of [`Step`]s, each with an action, an optional
//! compensation, a timeout and a number of attempts. The [`Orchestrator`] stores every instance
//! in the database and writes each command to the outbox in the same transaction as the state
//! change; the `mspack_outbox` relay publishes it to NATS JetStream. A [`Participant`] does the
//! work exactly once (inbox keyed by saga, step and kind) and writes its [`Reply`] to its own
//! outbox in the same transaction as its effects. The orchestrator consumes replies from a
//! durable JetStream consumer:
//!
//! - success moves to the next step, or completes the saga;
//! - a definite failure (not retryable) compensates the completed steps in reverse order; a
//!   timeout, or a retryable failure, after the last attempt compensates the step itself too,
//!   since its effect is unknown (a payment provider may have charged after the caller gave up);
//! - a timeout with attempts left resends the command (same idempotency key, new message id);
//! - a duplicate or stale reply changes nothing.
//!
//! Nothing lives only in memory: after a crash a new orchestrator picks up the stored state,
//! JetStream redelivers unacknowledged replies, and overdue commands are retried.

mod definition;
mod error;
mod message;
mod orchestrator;
mod participant;
mod state;

pub use definition::{SagaDefinition, Step};
pub use error::SagaError;
pub use message::{ActionState, Command, CommandKind, Outcome, Reply, idempotency_key};
pub use orchestrator::{Orchestrator, ReplyEffect, SagaFinished};
pub use participant::{Participant, Processed};
pub use state::{SagaState, SagaStatus};
