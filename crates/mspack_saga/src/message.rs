//! The messages between orchestrator and participants: commands out, replies back. Both travel
//! through the outbox and JetStream; both are JSON.

use std::collections::BTreeMap;

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

impl CommandKind {
    /// `action` or `compensation`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Action => "action",
            CommandKind::Compensation => "compensation",
        }
    }
}

/// A command from the orchestrator to a participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The saga instance.
    pub saga_id: Uuid,
    /// The saga type.
    pub saga_type: String,
    /// The version of the definition the instance runs on.
    #[serde(default = "one")]
    pub definition_version: u32,
    /// Index of the step in that definition.
    pub step: usize,
    /// Name of the step: what identifies it (idempotency keys, replies).
    pub step_name: String,
    /// Action or compensation.
    pub kind: CommandKind,
    /// 1 for the first try, then 2, 3, ... for retries after a timeout.
    pub attempt: u32,
    /// 0, then 1, 2, ... each time an operator retries a failed saga
    /// ([`crate::Orchestrator::retry`]): keeps message ids of a new round apart from the old.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
    /// Subject to send the reply to.
    pub reply_to: String,
    /// The saga's input, as given when it started.
    pub data: Value,
    /// The outputs of the steps that succeeded so far, by step name (a refund reads the charge
    /// id its charge step returned).
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// W3C trace context of the saga's start, if any.
    pub traceparent: Option<String>,
    /// For a compensation, what became of the action (set by [`crate::Participant`]; not sent).
    #[serde(skip)]
    pub action: Option<ActionState>,
}

fn one() -> u32 {
    1
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a participant knows about a step's action when its compensation arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionState {
    /// The action ran (committed) with this outcome: undo its effects.
    Done(Outcome),
    /// The action never ran here, and now never will: the compensation cancelled it (a late
    /// copy of the action is refused). Effects outside this participant's database made by an
    /// attempt that crashed before committing (a call to a payment provider, say) may still
    /// exist: undo them by idempotency key.
    Cancelled,
}

/// How a participant's work went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Done, with an optional output that later steps and compensations read.
    Success {
        /// What the step produced (e.g. `{"charge_id": ...}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
    },
    /// Not done. A `retryable` failure is tried again while attempts remain; any other failure
    /// (or the last attempt) makes the saga compensate.
    Failure {
        /// Why.
        reason: String,
        /// Whether trying again may help.
        retryable: bool,
    },
}

impl Outcome {
    /// Success without output.
    pub fn success() -> Self {
        Outcome::Success { output: None }
    }

    /// Success with an output for later steps and compensations.
    pub fn success_with(output: Value) -> Self {
        Outcome::Success {
            output: Some(output),
        }
    }

    /// A failure that trying again won't fix.
    pub fn failure(reason: impl Into<String>) -> Self {
        Outcome::Failure {
            reason: reason.into(),
            retryable: false,
        }
    }

    /// A failure worth another attempt.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Outcome::Failure {
            reason: reason.into(),
            retryable: true,
        }
    }

    /// True for a success.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success { .. })
    }

    /// True for an outcome that will not change on another try (success or a non-retryable
    /// failure): the participant stores it and answers every later copy of the command with it.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            Outcome::Failure {
                retryable: true,
                ..
            }
        )
    }
}

/// A participant's reply to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The saga instance.
    pub saga_id: Uuid,
    /// Index of the step.
    pub step: usize,
    /// Name of the step (a reply for another step than the one the saga waits on is refused).
    #[serde(default)]
    pub step_name: String,
    /// Action or compensation.
    pub kind: CommandKind,
    /// The attempt replied to.
    pub attempt: u32,
    /// The result.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Command {
    /// Unique per attempt: the `Nats-Msg-Id` of this command.
    pub fn message_id(&self) -> Uuid {
        let round = if self.round == 0 {
            String::new()
        } else {
            format!(":r{}", self.round)
        };
        Uuid::new_v5(
            &self.saga_id,
            format!(
                "{}:{}:{}{round}",
                self.step_name,
                self.kind.as_str(),
                self.attempt
            )
            .as_bytes(),
        )
    }

    /// The same for every attempt of this step's action (or compensation), whatever the step's
    /// position in the definition: the key a participant records in its inbox so a retry of
    /// work already done does nothing, and so a redeployed definition never re-sends a done
    /// step under a new key.
    pub fn idempotency_key(&self) -> Uuid {
        idempotency_key(self.saga_id, &self.step_name, self.kind)
    }

    /// The key of this step's action (what a compensation cancels).
    pub fn action_key(&self) -> Uuid {
        idempotency_key(self.saga_id, &self.step_name, CommandKind::Action)
    }

    /// Reads a command from a NATS message body.
    pub fn from_json(body: &[u8]) -> Result<Self, SagaError> {
        serde_json::from_slice(body).map_err(|e| SagaError::BadMessage(e.to_string()))
    }

    /// The reply to this command with `outcome`, as an outbox message for the participant's
    /// transaction. Its message id derives from the step, the attempt and the outcome itself: a
    /// copy of the same reply is dropped by the broker, a different outcome never is.
    pub fn reply(&self, outcome: Outcome) -> Result<OutboxMessage, SagaError> {
        let reply = Reply {
            saga_id: self.saga_id,
            step: self.step,
            step_name: self.step_name.clone(),
            kind: self.kind,
            attempt: self.attempt,
            outcome,
        };
        let payload =
            serde_json::to_vec(&reply).map_err(|e| SagaError::BadMessage(e.to_string()))?;
        let outcome_json = serde_json::to_string(&reply.outcome)
            .map_err(|e| SagaError::BadMessage(e.to_string()))?;
        let id = Uuid::new_v5(
            &self.idempotency_key(),
            format!("reply:{}:{}:{outcome_json}", self.round, self.attempt).as_bytes(),
        );
        Ok(self.message(id, self.reply_to.clone(), payload))
    }

    fn message(&self, id: Uuid, subject: String, payload: Vec<u8>) -> OutboxMessage {
        let mut message = OutboxMessage::new(subject, payload)
            .with_id(id)
            .with_header("Mspack-Correlation-Id", self.saga_id.to_string())
            .ordered_by(self.saga_id.to_string());
        if let Some(tp) = &self.traceparent {
            message = message.with_header("traceparent", tp.clone());
        }
        message
    }

    pub(crate) fn to_outbox(&self, subject: &str) -> Result<OutboxMessage, SagaError> {
        let payload = serde_json::to_vec(self).map_err(|e| SagaError::BadMessage(e.to_string()))?;
        Ok(self.message(self.message_id(), subject.to_owned(), payload))
    }
}

/// The idempotency key of a step's action or compensation in saga `saga_id`.
pub fn idempotency_key(saga_id: Uuid, step_name: &str, kind: CommandKind) -> Uuid {
    Uuid::new_v5(
        &saga_id,
        format!("{step_name}:{}", kind.as_str()).as_bytes(),
    )
}

impl Reply {
    /// Reads a reply from a NATS message body.
    pub fn from_json(body: &[u8]) -> Result<Self, SagaError> {
        serde_json::from_slice(body).map_err(|e| SagaError::BadMessage(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(step_name: &str, step: usize, attempt: u32) -> Command {
        Command {
            saga_id: Uuid::nil(),
            saga_type: "order".into(),
            definition_version: 1,
            step,
            step_name: step_name.into(),
            kind: CommandKind::Action,
            attempt,
            round: 0,
            reply_to: "r".into(),
            data: Value::Null,
            outputs: BTreeMap::new(),
            traceparent: None,
            action: None,
        }
    }

    #[test]
    fn keys_follow_step_names_not_positions() {
        assert_eq!(
            command("charge", 1, 1).idempotency_key(),
            command("charge", 2, 3).idempotency_key()
        );
        assert_ne!(
            command("charge", 1, 1).idempotency_key(),
            command("assign", 1, 1).idempotency_key()
        );
    }

    #[test]
    fn reply_ids_differ_by_outcome_and_attempt() {
        let c = command("charge", 1, 1);
        let ok = c.reply(Outcome::success()).expect("reply").message_id;
        let failed = c
            .reply(Outcome::failure("declined"))
            .expect("reply")
            .message_id;
        assert_ne!(
            ok, failed,
            "a success after a failure must not be deduplicated away"
        );
        assert_eq!(ok, c.reply(Outcome::success()).expect("reply").message_id);
        let retry = command("charge", 1, 2);
        assert_ne!(
            ok,
            retry.reply(Outcome::success()).expect("reply").message_id
        );
    }

    #[test]
    fn outcomes_round_trip_with_outputs() {
        let o = Outcome::success_with(serde_json::json!({ "charge_id": "ch_1" }));
        let text = serde_json::to_string(&o).expect("json");
        assert_eq!(
            text,
            r#"{"outcome":"success","output":{"charge_id":"ch_1"}}"#
        );
        assert_eq!(serde_json::from_str::<Outcome>(&text).expect("parse"), o);
        let bare: Outcome = serde_json::from_str(r#"{"outcome":"success"}"#).expect("parse");
        assert_eq!(bare, Outcome::success());
    }
}
