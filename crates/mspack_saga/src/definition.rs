//! What a saga is: a named, versioned, ordered list of steps, each with an action, an optional
//! compensation, a timeout and a retry policy.

use std::time::Duration;

use crate::error::SagaError;

/// One step of a saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Name, unique within the definition: it names the step in commands, replies, stored state
    /// and idempotency keys, so a redeployed definition that adds or moves steps never confuses
    /// one step with another.
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

/// A named, versioned sequence of steps run in order; on failure the completed steps are
/// compensated in reverse order.
///
/// Each instance stores the name, version and fingerprint of the definition it started with and
/// runs to its end on that definition: register a changed definition under a new version and
/// keep the old one registered until its instances finish (see [`crate::Orchestrator::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaDefinition {
    /// The saga type, stored with each instance.
    pub name: String,
    /// The definition's version (1 unless set); bump it whenever the steps change.
    pub version: u32,
    /// The steps in order.
    pub steps: Vec<Step>,
}

impl SagaDefinition {
    /// Version 1 of a saga without steps yet.
    pub fn new(name: impl Into<String>) -> Self {
        SagaDefinition {
            name: name.into(),
            version: 1,
            steps: Vec::new(),
        }
    }

    /// Sets the version.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Appends a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// The index of the step named `name`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// A fingerprint of what matters for running instances (step names, subjects, order): a
    /// stored instance whose fingerprint differs from the registered definition of the same
    /// version was started by different code, and is parked rather than run on the wrong steps.
    pub fn fingerprint(&self) -> String {
        // FNV-1a 64 over a canonical rendering; stable across processes and versions.
        let mut text = format!("{}\u{1f}{}", self.name, self.version);
        for s in &self.steps {
            text.push('\u{1e}');
            text.push_str(&s.name);
            text.push('\u{1f}');
            text.push_str(&s.action_subject);
            text.push('\u{1f}');
            text.push_str(s.compensation_subject.as_deref().unwrap_or(""));
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// Checks that the definition can run: at least one step, unique step names.
    pub fn validate(&self) -> Result<(), SagaError> {
        if self.steps.is_empty() {
            return Err(SagaError::NoSteps(self.name.clone()));
        }
        let mut seen = std::collections::HashSet::new();
        for step in &self.steps {
            if !seen.insert(step.name.as_str()) {
                return Err(SagaError::InvalidDefinition(format!(
                    "saga {} v{} has two steps named {:?}",
                    self.name, self.version, step.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_the_steps_not_with_timeouts() {
        let v1 = SagaDefinition::new("order")
            .step(Step::new("reserve", "k.reserve"))
            .step(Step::new("charge", "p.charge"));
        let slower = SagaDefinition {
            steps: v1
                .steps
                .iter()
                .cloned()
                .map(|s| s.timeout(Duration::from_secs(99)))
                .collect(),
            ..v1.clone()
        };
        assert_eq!(v1.fingerprint(), slower.fingerprint());
        let inserted = SagaDefinition::new("order")
            .step(Step::new("reserve", "k.reserve"))
            .step(Step::new("verify", "f.verify"))
            .step(Step::new("charge", "p.charge"));
        assert_ne!(v1.fingerprint(), inserted.fingerprint());
    }

    #[test]
    fn duplicate_step_names_are_refused() {
        let def = SagaDefinition::new("x")
            .step(Step::new("a", "s.a"))
            .step(Step::new("a", "s.b"));
        assert!(def.validate().is_err());
        assert!(SagaDefinition::new("empty").validate().is_err());
    }
}
