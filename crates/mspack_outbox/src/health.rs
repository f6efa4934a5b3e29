//! Health of a long-running worker (a relay, a saga orchestrator), for a service's `/readyz`:
//! the worker keeps running through database and broker failures, and says so here.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Where a worker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// Started, no pass completed yet.
    Starting,
    /// The last pass succeeded.
    Healthy,
    /// The last pass failed (or found work it cannot do); the worker retries with backoff.
    Degraded,
    /// Stopped after a shutdown.
    Stopped,
}

/// A snapshot of a worker's health.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The worker (`relay`, `saga-orchestrator`, ...).
    pub worker: String,
    /// Where it is.
    pub status: HealthStatus,
    /// Why it is degraded.
    pub last_error: Option<String>,
    /// How long it has been in this status.
    pub for_duration: Duration,
    /// When it last completed a pass.
    pub last_success: Option<SystemTime>,
    /// Consecutive failed passes.
    pub failures: u64,
}

#[derive(Debug)]
struct State {
    status: HealthStatus,
    since: Instant,
    last_error: Option<String>,
    last_success: Option<SystemTime>,
    failures: u64,
}

/// A shared handle on a worker's health; cheap to clone into an HTTP handler.
#[derive(Debug, Clone)]
pub struct Health {
    worker: Arc<str>,
    state: Arc<Mutex<State>>,
}

impl Health {
    /// A fresh handle in [`HealthStatus::Starting`].
    pub fn new(worker: &str) -> Self {
        Health {
            worker: worker.into(),
            state: Arc::new(Mutex::new(State {
                status: HealthStatus::Starting,
                since: Instant::now(),
                last_error: None,
                last_success: None,
                failures: 0,
            })),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// The current report.
    pub fn report(&self) -> HealthReport {
        self.with(|s| HealthReport {
            worker: self.worker.to_string(),
            status: s.status,
            last_error: s.last_error.clone(),
            for_duration: s.since.elapsed(),
            last_success: s.last_success,
            failures: s.failures,
        })
    }

    /// Ready unless degraded for longer than `grace` (a blip does not flap readiness) or
    /// stopped; a worker that has not finished its first pass is not ready either.
    pub fn is_ready(&self, grace: Duration) -> bool {
        self.with(|s| match s.status {
            HealthStatus::Healthy => true,
            HealthStatus::Degraded => s.since.elapsed() < grace && s.last_success.is_some(),
            HealthStatus::Starting | HealthStatus::Stopped => false,
        })
    }

    fn set(&self, status: HealthStatus, error: Option<String>) {
        self.with(|s| {
            if s.status != status {
                s.status = status;
                s.since = Instant::now();
            }
            match status {
                HealthStatus::Healthy => {
                    s.last_success = Some(SystemTime::now());
                    s.failures = 0;
                    s.last_error = None;
                }
                HealthStatus::Degraded => {
                    s.failures += 1;
                    s.last_error = error;
                }
                HealthStatus::Starting | HealthStatus::Stopped => {}
            }
        });
    }

    /// Records a successful pass.
    pub fn healthy(&self) {
        self.set(HealthStatus::Healthy, None);
    }

    /// Records a failed pass.
    pub fn degraded(&self, error: impl Into<String>) {
        self.set(HealthStatus::Degraded, Some(error.into()));
    }

    /// Records the shutdown.
    pub fn stopped(&self) {
        self.set(HealthStatus::Stopped, None);
    }
}

/// Exponential backoff for a supervisor loop: 100 ms doubling to `max`, reset on success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `initial`, doubles up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            next: initial,
            initial,
            max,
        }
    }

    /// The pause before the next attempt, doubling the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to the initial pause.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_passes_with_a_grace_period() {
        let h = Health::new("relay");
        assert!(
            !h.is_ready(Duration::from_secs(5)),
            "not ready before a pass"
        );
        h.healthy();
        assert!(h.is_ready(Duration::from_secs(5)));
        h.degraded("database down");
        assert!(h.is_ready(Duration::from_secs(5)), "a blip keeps readiness");
        assert!(!h.is_ready(Duration::ZERO));
        let report = h.report();
        assert_eq!(report.status, HealthStatus::Degraded);
        assert_eq!(report.last_error.as_deref(), Some("database down"));
        assert_eq!(report.failures, 1);
        h.stopped();
        assert!(!h.is_ready(Duration::from_secs(5)));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
