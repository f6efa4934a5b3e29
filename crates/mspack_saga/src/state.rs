//! A saga instance's persisted state and the pure transition function that moves it.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use crate::definition::SagaDefinition;
use crate::message::{Command, CommandKind, Outcome, Reply};

/// Where a saga instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaStatus {
    /// Running step `step`'s action.
    Running,
    /// Running step `step`'s compensation, on the way back to step 0.
    Compensating,
    /// Every step succeeded.
    Completed,
    /// A step failed and every completed step was compensated.
    Compensated,
    /// A compensation failed after its retries: needs a person.
    Failed,
}

impl SagaStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Completed => "completed",
            SagaStatus::Compensated => "compensated",
            SagaStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => SagaStatus::Running,
            "compensating" => SagaStatus::Compensating,
            "completed" => SagaStatus::Completed,
            "compensated" => SagaStatus::Compensated,
            "failed" => SagaStatus::Failed,
            _ => return None,
        })
    }

    /// True once the saga will not move again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::Failed
        )
    }
}

/// A saga instance as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaState {
    /// Instance id.
    pub id: Uuid,
    /// Saga type (definition name).
    pub saga_type: String,
    /// Version of the definition the instance runs on.
    pub definition_version: u32,
    /// Fingerprint of that definition when the instance started.
    pub definition_hash: String,
    /// Where it is.
    pub status: SagaStatus,
    /// The step being run or compensated.
    pub step: usize,
    /// Attempt of the current command (1 = first try).
    pub attempt: u32,
    /// How many times an operator retried the saga after it failed.
    pub round: u32,
    /// The input given at start, passed to every command.
    pub data: Value,
    /// Trace context of the start.
    pub traceparent: Option<String>,
    /// Why the saga is compensating or failed.
    pub last_error: Option<String>,
    /// When the current command times out (Unix milliseconds, database clock).
    pub deadline_ms: Option<i64>,
    /// Outputs of the steps that succeeded, by step name.
    pub outputs: BTreeMap<String, Value>,
    /// Why this instance is set aside (its definition version is not registered, or changed
    /// without a version bump); `None` while it runs.
    pub parked: Option<String>,
    pub(crate) version: i64,
}

impl SagaState {
    /// The name of the current step in `def`.
    pub fn step_name<'d>(&self, def: &'d SagaDefinition) -> Option<&'d str> {
        def.steps.get(self.step).map(|s| s.name.as_str())
    }
}

/// What moves a saga.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    Reply(&'a Reply),
    Timeout { now_ms: i64 },
}

pub(crate) fn command(
    def: &SagaDefinition,
    s: &SagaState,
    kind: CommandKind,
    reply_to: &str,
) -> Command {
    Command {
        saga_id: s.id,
        saga_type: s.saga_type.clone(),
        definition_version: s.definition_version,
        step: s.step,
        step_name: def
            .steps
            .get(s.step)
            .map(|st| st.name.clone())
            .unwrap_or_default(),
        kind,
        attempt: s.attempt,
        round: s.round,
        reply_to: reply_to.to_owned(),
        data: s.data.clone(),
        outputs: s.outputs.clone(),
        traceparent: s.traceparent.clone(),
        action: None,
    }
}

pub(crate) fn deadline(def: &SagaDefinition, step: usize, now_ms: i64) -> Option<i64> {
    let timeout = def.steps.get(step)?.timeout;
    Some(now_ms.saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX)))
}

fn max_attempts(def: &SagaDefinition, step: usize) -> u32 {
    def.steps.get(step).map_or(1, |s| s.max_attempts)
}

/// Moves to compensating the highest step at or below `from` that has a compensation, or to
/// `Compensated` when none is left.
fn compensate_from(
    def: &SagaDefinition,
    mut s: SagaState,
    from: Option<usize>,
    now_ms: i64,
    reply_to: &str,
) -> (SagaState, Option<Command>) {
    let next = from.and_then(|from| {
        (0..=from).rev().find(|&i| {
            def.steps
                .get(i)
                .is_some_and(|st| st.compensation_subject.is_some())
        })
    });
    match next {
        Some(i) => {
            s.status = SagaStatus::Compensating;
            s.step = i;
            s.attempt = 1;
            s.deadline_ms = deadline(def, i, now_ms);
            let cmd = command(def, &s, CommandKind::Compensation, reply_to);
            (s, Some(cmd))
        }
        None => {
            s.status = SagaStatus::Compensated;
            s.deadline_ms = None;
            (s, None)
        }
    }
}

fn retry(
    def: &SagaDefinition,
    mut s: SagaState,
    kind: CommandKind,
    now_ms: i64,
    reply_to: &str,
) -> (SagaState, Option<Command>) {
    s.attempt += 1;
    s.deadline_ms = deadline(def, s.step, now_ms);
    let cmd = command(def, &s, kind, reply_to);
    (s, Some(cmd))
}

/// The state after `input`, and the command to send, or `None` when the input does not apply
/// (a duplicate or stale reply, a timeout that is not due).
pub(crate) fn decide(
    def: &SagaDefinition,
    state: &SagaState,
    input: Input<'_>,
    now_ms: i64,
    reply_to: &str,
) -> Option<(SagaState, Option<Command>)> {
    let s = state.clone();
    let can_retry = s.attempt < max_attempts(def, s.step);
    // A reply names its step: one for another step than the current one (a stale reply, or a
    // reply of a different definition) changes nothing.
    let this_step = |r: &Reply| {
        r.step == s.step
            && (r.step_name.is_empty() || Some(r.step_name.as_str()) == s.step_name(def))
    };
    match (s.status, input) {
        (SagaStatus::Running, Input::Reply(r)) if r.kind == CommandKind::Action && this_step(r) => {
            match &r.outcome {
                Outcome::Success { output } => {
                    let mut s = s;
                    if let (Some(output), Some(name)) = (output, s.step_name(def)) {
                        s.outputs.insert(name.to_owned(), output.clone());
                    }
                    if s.step + 1 < def.steps.len() {
                        s.step += 1;
                        s.attempt = 1;
                        s.deadline_ms = deadline(def, s.step, now_ms);
                        let cmd = command(def, &s, CommandKind::Action, reply_to);
                        Some((s, Some(cmd)))
                    } else {
                        s.status = SagaStatus::Completed;
                        s.deadline_ms = None;
                        Some((s, None))
                    }
                }
                // A failure of an older attempt says nothing about the one in flight.
                Outcome::Failure { .. } if r.attempt != s.attempt => None,
                Outcome::Failure {
                    retryable: true, ..
                } if can_retry => Some(retry(def, s, CommandKind::Action, now_ms, reply_to)),
                Outcome::Failure { reason, retryable } => {
                    let mut s = s;
                    s.last_error = Some(format!(
                        "step {} failed: {reason}",
                        s.step_name(def).unwrap_or("?")
                    ));
                    // A definite failure did nothing: compensate the steps before it. A retryable
                    // one (a timeout calling out, say) leaves the step's effect unknown, like a
                    // timeout here: compensate the step too.
                    let from = if *retryable {
                        Some(s.step)
                    } else {
                        s.step.checked_sub(1)
                    };
                    Some(compensate_from(def, s, from, now_ms, reply_to))
                }
            }
        }
        (SagaStatus::Running, Input::Timeout { now_ms: t })
            if s.deadline_ms.is_some_and(|d| d <= t) =>
        {
            if can_retry {
                Some(retry(def, s, CommandKind::Action, now_ms, reply_to))
            } else {
                // The step's effect is unknown, so it is compensated too.
                let mut s = s;
                s.last_error = Some(format!(
                    "step {} timed out after {} attempts",
                    s.step_name(def).unwrap_or("?"),
                    s.attempt
                ));
                let from = Some(s.step);
                Some(compensate_from(def, s, from, now_ms, reply_to))
            }
        }
        (SagaStatus::Compensating, Input::Reply(r))
            if r.kind == CommandKind::Compensation && this_step(r) =>
        {
            match &r.outcome {
                Outcome::Success { .. } => {
                    let from = s.step.checked_sub(1);
                    Some(compensate_from(def, s, from, now_ms, reply_to))
                }
                Outcome::Failure { .. } if r.attempt != s.attempt => None,
                Outcome::Failure { .. } if can_retry => {
                    Some(retry(def, s, CommandKind::Compensation, now_ms, reply_to))
                }
                Outcome::Failure { reason, .. } => {
                    let mut s = s;
                    s.status = SagaStatus::Failed;
                    s.deadline_ms = None;
                    s.last_error = Some(format!(
                        "compensation of step {} failed: {reason}",
                        s.step_name(def).unwrap_or("?")
                    ));
                    Some((s, None))
                }
            }
        }
        (SagaStatus::Compensating, Input::Timeout { now_ms: t })
            if s.deadline_ms.is_some_and(|d| d <= t) =>
        {
            if can_retry {
                Some(retry(def, s, CommandKind::Compensation, now_ms, reply_to))
            } else {
                let mut s = s;
                s.status = SagaStatus::Failed;
                s.deadline_ms = None;
                s.last_error = Some(format!(
                    "compensation of step {} timed out",
                    s.step_name(def).unwrap_or("?")
                ));
                Some((s, None))
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::Step;

    fn def() -> SagaDefinition {
        SagaDefinition::new("order")
            .step(Step::new("reserve", "k.reserve").compensate_with("k.release"))
            .step(Step::new("charge", "p.charge").compensate_with("p.refund"))
            .step(Step::new("assign", "d.assign").max_attempts(2))
    }

    fn at(step: usize, status: SagaStatus) -> SagaState {
        SagaState {
            id: Uuid::nil(),
            saga_type: "order".into(),
            definition_version: 1,
            definition_hash: String::new(),
            outputs: BTreeMap::new(),
            parked: None,
            round: 0,
            status,
            step,
            attempt: 1,
            data: Value::Null,
            traceparent: None,
            last_error: None,
            deadline_ms: Some(100),
            version: 1,
        }
    }

    fn reply(step: usize, kind: CommandKind, outcome: Outcome) -> Reply {
        Reply {
            saga_id: Uuid::nil(),
            step,
            step_name: def().steps[step].name.clone(),
            kind,
            attempt: 1,
            outcome,
        }
    }

    fn fail() -> Outcome {
        Outcome::Failure {
            reason: "no".into(),
            retryable: false,
        }
    }

    #[test]
    fn failure_of_step_three_compensates_step_two_then_step_one() {
        let d = def();
        let r = reply(2, CommandKind::Action, fail());
        let (s, cmd) =
            decide(&d, &at(2, SagaStatus::Running), Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!((s.status, s.step), (SagaStatus::Compensating, 1));
        assert_eq!(
            cmd.map(|c| (c.step, c.kind)),
            Some((1, CommandKind::Compensation))
        );
        let r = reply(1, CommandKind::Compensation, Outcome::success());
        let (s, cmd) = decide(&d, &s, Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!((s.status, s.step), (SagaStatus::Compensating, 0));
        assert_eq!(
            cmd.map(|c| (c.step, c.kind)),
            Some((0, CommandKind::Compensation))
        );
        let r = reply(0, CommandKind::Compensation, Outcome::success());
        let (s, cmd) = decide(&d, &s, Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!(s.status, SagaStatus::Compensated);
        assert!(cmd.is_none());
    }

    #[test]
    fn duplicate_or_stale_replies_change_nothing() {
        let d = def();
        let old = reply(0, CommandKind::Action, Outcome::success());
        assert!(decide(&d, &at(1, SagaStatus::Running), Input::Reply(&old), 0, "r").is_none());
        assert!(
            decide(
                &d,
                &at(1, SagaStatus::Completed),
                Input::Reply(&old),
                0,
                "r"
            )
            .is_none()
        );
    }

    #[test]
    fn timeout_retries_until_attempts_run_out_then_compensates_the_step_too() {
        let d = def();
        let (s, cmd) = decide(
            &d,
            &at(2, SagaStatus::Running),
            Input::Timeout { now_ms: 100 },
            100,
            "r",
        )
        .expect("due");
        assert_eq!((s.attempt, cmd.map(|c| c.attempt)), (2, Some(2)));
        let s = SagaState {
            deadline_ms: Some(200),
            ..s
        };
        assert!(
            decide(&d, &s, Input::Timeout { now_ms: 150 }, 150, "r").is_none(),
            "not due yet"
        );
        let (s, cmd) = decide(&d, &s, Input::Timeout { now_ms: 200 }, 200, "r").expect("due");
        // step 2 has no compensation, so the first compensated is step 1
        assert_eq!((s.status, s.step), (SagaStatus::Compensating, 1));
        assert_eq!(cmd.map(|c| c.kind), Some(CommandKind::Compensation));
    }

    #[test]
    fn a_retryable_failure_on_the_last_attempt_compensates_the_step_itself() {
        // The charge's outcome is unknown (the provider may have charged after the caller gave
        // up): its compensation must run, not only the earlier steps'.
        let d = def();
        let mut s = at(1, SagaStatus::Running);
        s.attempt = 3;
        let mut r = reply(
            1,
            CommandKind::Action,
            Outcome::retryable("provider timed out"),
        );
        r.attempt = 3;
        let (s, cmd) = decide(&d, &s, Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!((s.status, s.step), (SagaStatus::Compensating, 1));
        assert_eq!(
            cmd.map(|c| (c.step_name, c.kind)),
            Some(("charge".to_owned(), CommandKind::Compensation))
        );
        // A definite failure compensates only the steps before it.
        let mut r = reply(1, CommandKind::Action, Outcome::failure("declined"));
        r.attempt = 1;
        let (s, _) =
            decide(&d, &at(1, SagaStatus::Running), Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!((s.status, s.step), (SagaStatus::Compensating, 0));
    }

    #[test]
    fn a_reply_naming_another_step_is_refused() {
        let d = def();
        let mut r = reply(1, CommandKind::Action, Outcome::success());
        r.step_name = "verify".into(); // index 1 of a different definition
        assert!(decide(&d, &at(1, SagaStatus::Running), Input::Reply(&r), 0, "r").is_none());
    }

    #[test]
    fn outputs_of_successful_steps_reach_later_commands() {
        let d = def();
        let r = reply(
            1,
            CommandKind::Action,
            Outcome::success_with(serde_json::json!({ "charge_id": "ch_1" })),
        );
        let (s, cmd) =
            decide(&d, &at(1, SagaStatus::Running), Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!(s.outputs["charge"]["charge_id"], "ch_1");
        assert_eq!(
            cmd.expect("next step").outputs["charge"]["charge_id"],
            "ch_1"
        );
    }

    #[test]
    fn first_step_failure_without_completed_steps_is_compensated_at_once() {
        let d = def();
        let r = reply(0, CommandKind::Action, fail());
        let (s, cmd) =
            decide(&d, &at(0, SagaStatus::Running), Input::Reply(&r), 0, "r").expect("applies");
        assert_eq!(s.status, SagaStatus::Compensated);
        assert!(cmd.is_none());
    }
}
