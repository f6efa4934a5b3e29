//! The messages between orchestrator and participants: commands out, replies back. Both travel
//! through the outbox and JetStream; both are JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use mspack_eventstore::OutboxMessage;

use crate::error::SagaError;

/// Whether a command asks for a step's action or its compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Do the step.
    Action,
    /// Undo the step.
    Compensation,
}

/// A command from the orchestrator to a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The saga instance.
    pub saga_id: Uuid,
    /// The saga type.
    pub saga_type: String,
    /// Index of the step.
    pub step: usize,
    /// Name of the step.
    pub step_name: String,
    /// Action or compensation.
    pub kind: CommandKind,
    /// 1 for the first try, then 2, 3, ... for retries after a timeout.
    pub attempt: u32,
    /// Subject to send the reply to.
    pub reply_to: String,
    /// The saga's input, as given when it started.
    pub data: Value,
    /// W3C trace context of the saga's start, if any.
    pub traceparent: Option<String>,
}

/// How a participant's work went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Not done. A `retryable` failure is tried again while attempts remain; any other failure
    /// (or the last attempt) makes the saga compensate.
    Failure {
        /// Why.
        reason: String,
        /// Whether trying again may help.
        retryable: bool,
    },
}

/// A participant's reply to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The saga instance.
    pub saga_id: Uuid,
    /// Index of the step.
    pub step: usize,
    /// Action or compensation.
    pub kind: CommandKind,
    /// The attempt replied to.
    pub attempt: u32,
    /// The result.
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn kind_name(kind: CommandKind) -> &'static str {
    match kind {
        CommandKind::Action => "action",
        CommandKind::Compensation => "compensation",
    }
}

impl Command {
    /// Unique per attempt: the `Nats-Msg-Id` of this command.
    pub fn message_id(&self) -> Uuid {
        Uuid::new_v5(
            &self.saga_id,
            format!("{}:{}:{}", self.step, kind_name(self.kind), self.attempt).as_bytes(),
        )
    }

    /// The same for every attempt of this step's action (or compensation): the key a
    /// participant records in its inbox so a retry of work already done does nothing.
    pub fn idempotency_key(&self) -> Uuid {
        Uuid::new_v5(
            &self.saga_id,
            format!("{}:{}", self.step, kind_name(self.kind)).as_bytes(),
        )
    }

    /// Reads a command from a NATS message body.
    pub fn from_json(body: &[u8]) -> Result<Self, SagaError> {
        serde_json::from_slice(body).map_err(|e| SagaError::BadMessage(e.to_string()))
    }

    /// The reply to this command, as an outbox message for the participant's transaction.
    pub fn reply(&self, outcome: Outcome) -> Result<OutboxMessage, SagaError> {
        let reply = Reply {
            saga_id: self.saga_id,
            step: self.step,
            kind: self.kind,
            attempt: self.attempt,
            outcome,
        };
        let payload =
            serde_json::to_vec(&reply).map_err(|e| SagaError::BadMessage(e.to_string()))?;
        let mut headers = vec![("Mspack-Correlation-Id".to_owned(), self.saga_id.to_string())];
        if let Some(tp) = &self.traceparent {
            headers.push(("traceparent".to_owned(), tp.clone()));
        }
        Ok(OutboxMessage {
            message_id: Uuid::new_v5(&self.message_id(), b"reply"),
            subject: self.reply_to.clone(),
            payload,
            headers,
        })
    }

    pub(crate) fn to_outbox(&self, subject: &str) -> Result<OutboxMessage, SagaError> {
        let payload = serde_json::to_vec(self).map_err(|e| SagaError::BadMessage(e.to_string()))?;
        let mut headers = vec![("Mspack-Correlation-Id".to_owned(), self.saga_id.to_string())];
        if let Some(tp) = &self.traceparent {
            headers.push(("traceparent".to_owned(), tp.clone()));
        }
        Ok(OutboxMessage {
            message_id: self.message_id(),
            subject: subject.to_owned(),
            payload,
            headers,
        })
    }
}

impl Reply {
    /// Reads a reply from a NATS message body.
    pub fn from_json(body: &[u8]) -> Result<Self, SagaError> {
        serde_json::from_slice(body).map_err(|e| SagaError::BadMessage(e.to_string()))
    }
}
