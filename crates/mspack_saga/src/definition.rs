//! What a saga is: an ordered list of steps, each with an action, an optional compensation, a
//! timeout and a retry policy.

use std::time::Duration;

/// One step of a saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Name, for logs and commands.
    pub name: String,
    /// NATS subject the participant that performs the action listens on.
    pub action_subject: String,
    /// NATS subject of the compensation (undo); `None` for a step with nothing to undo.
    pub compensation_subject: Option<String>,
    /// How long to wait for a reply before retrying or giving up.
    pub timeout: Duration,
    /// Attempts in all (first try included) before a timeout or retryable failure counts as
    /// the step failing.
    pub max_attempts: u32,
}

impl Step {
    /// A step with a 10 s timeout, 3 attempts and no compensation.
    pub fn new(name: impl Into<String>, action_subject: impl Into<String>) -> Self {
        Step {
            name: name.into(),
            action_subject: action_subject.into(),
            compensation_subject: None,
            timeout: Duration::from_secs(10),
            max_attempts: 3,
        }
    }

    /// Sets the compensation's subject.
    pub fn compensate_with(mut self, subject: impl Into<String>) -> Self {
        self.compensation_subject = Some(subject.into());
        self
    }

    /// Sets the reply timeout of each attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of attempts (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
}

/// A named sequence of steps run in order; on failure the completed steps are compensated in
/// reverse order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaDefinition {
    /// The saga type, stored with each instance.
    pub name: String,
    /// The steps in order.
    pub steps: Vec<Step>,
}

impl SagaDefinition {
    /// A saga without steps yet.
    pub fn new(name: impl Into<String>) -> Self {
        SagaDefinition {
            name: name.into(),
            steps: Vec::new(),
        }
    }

    /// Appends a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}
