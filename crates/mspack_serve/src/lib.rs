//! `mspack_serve`: what an axum service needs to behave under load and on shutdown.
//!
//! - [`ProtectLayer`]: at most `max_in_flight` requests are handled at once; one more gets an
//!   immediate `503` problem with `Retry-After` (load shedding: a queue in front of a saturated
//!   service only makes every caller wait longer), and a request that takes longer than
//!   `request_timeout` is answered `503` instead of holding its caller. Probes are exempt, so an
//!   overloaded pod is not restarted by its liveness probe.
//! - [`serve`]: on the shutdown signal, [`Readiness`] turns false at once (so `/readyz` answers
//!   503 and the endpoint is taken out of rotation) while requests are still served for
//!   `shutdown_delay`; then the listener closes, in-flight requests drain for at most
//!   `drain_timeout`, and whatever is still open is dropped.
//!
//! [`Limits::from_env`] reads `REQUEST_TIMEOUT`, `MAX_IN_FLIGHT`, `SHUTDOWN_DELAY` and
//! `DRAIN_TIMEOUT` (durations as `500ms`, `10s`, `1m`).
//!
//! This file is also copied verbatim into every service that `mspack new` writes.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use mspack_problem::Problem;
use tokio::sync::Semaphore;

/// Paths never shed nor timed out: the kubelet's probes must see the truth under load.
pub const PROBE_PATHS: &[&str] = &["/livez", "/readyz"];

/// Limits of one service process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest a request may take before it is answered 503 (`REQUEST_TIMEOUT`, default 10s).
    pub request_timeout: Duration,
    /// Requests handled at once; more are shed with 503 (`MAX_IN_FLIGHT`, default 1024).
    pub max_in_flight: usize,
    /// How long readiness is false before the listener closes (`SHUTDOWN_DELAY`, default 2s).
    pub shutdown_delay: Duration,
    /// Longest in-flight requests may drain after the listener closes (`DRAIN_TIMEOUT`,
    /// default 10s).
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            request_timeout: Duration::from_secs(10),
            max_in_flight: 1024,
            shutdown_delay: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The limits from the environment; a malformed value is an error naming the variable.
    pub fn from_env() -> Result<Limits, String> {
        Limits::from_lookup(|name| std::env::var(name).ok())
    }

    /// The limits from `lookup` (a variable's value, if set); unset or empty means the default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let defaults = Limits::default();
        let value = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let duration = |name: &str, default: Duration, allow_zero: bool| match value(name) {
            None => Ok(default),
            Some(text) => match parse_duration(&text) {
                Some(d) if allow_zero || !d.is_zero() => Ok(d),
                _ => Err(format!(
                    "{name}={text:?} is not a duration like 500ms, 10s or 1m{}",
                    if allow_zero { "" } else { " (above zero)" }
                )),
            },
        };
        let max_in_flight = match value("MAX_IN_FLIGHT") {
            None => defaults.max_in_flight,
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| format!("MAX_IN_FLIGHT={text:?} is not a number 1-1000000"))?,
        };
        Ok(Limits {
            request_timeout: duration("REQUEST_TIMEOUT", defaults.request_timeout, false)?,
            max_in_flight,
            shutdown_delay: duration("SHUTDOWN_DELAY", defaults.shutdown_delay, true)?,
            drain_timeout: duration("DRAIN_TIMEOUT", defaults.drain_timeout, true)?,
        })
    }
}

/// `500ms`, `10s`, `1m`, `1m30s` (units ms, s, m, h); `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Whether the process should receive new traffic; false from the shutdown signal on.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness(Arc::new(AtomicBool::new(true)))
    }
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }
}

/// Serve `router` on `listener` until `signal`, then: readiness false, `shutdown_delay` more of
/// serving, the listener closed, in-flight requests drained for at most `drain_timeout`.
/// Returns the server's error, if it failed; a drain cut short is logged, not an error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    readiness: Readiness,
    limits: Limits,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closing, closed) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            signal.await;
            readiness.set(false);
            tracing::info!(
                delay_ms = limits.shutdown_delay.as_millis() as u64,
                "not ready; serving until the endpoint is removed"
            );
            tokio::time::sleep(limits.shutdown_delay).await;
            let _ = closing.send(());
        })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => return served,
        _ = closed => {}
    }
    match tokio::time::timeout(limits.drain_timeout, &mut server).await {
        Ok(served) => served,
        Err(_) => {
            tracing::warn!(
                timeout_ms = limits.drain_timeout.as_millis() as u64,
                "requests still in flight after the drain timeout; closing them"
            );
            Ok(())
        }
    }
}

/// Tower layer for the routes: load shedding above `max_in_flight` and `request_timeout`, both
/// answered with a 503 problem carrying `Retry-After`. Add it with `Router::layer` before
/// `mspack_problem::install`, so the problems get their `instance` and trace id.
#[derive(Clone, Debug)]
pub struct ProtectLayer {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl ProtectLayer {
    pub fn new(limits: &Limits) -> ProtectLayer {
        ProtectLayer {
            permits: Arc::new(Semaphore::new(limits.max_in_flight)),
            timeout: limits.request_timeout,
        }
    }
}

impl<S> tower::Layer<S> for ProtectLayer {
    type Service = Protect<S>;

    fn layer(&self, inner: S) -> Protect<S> {
        Protect {
            inner,
            permits: Arc::clone(&self.permits),
            timeout: self.timeout,
        }
    }
}

/// The service [`ProtectLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct Protect<S> {
    inner: S,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

type BoxedResponse<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S> tower::Service<Request> for Protect<S>
where
    S: tower::Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxedResponse<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if PROBE_PATHS.contains(&request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return Box::pin(async {
                Ok(Problem::new(503)
                    .with_detail("the service is at its limit of requests in flight")
                    .with_retry_after(1)
                    .into_response())
            });
        };
        let timeout = self.timeout;
        let response = self.inner.call(request);
        Box::pin(async move {
            let answered = tokio::time::timeout(timeout, response).await;
            drop(permit);
            match answered {
                Ok(response) => response,
                Err(_) => Ok(Problem::new(503)
                    .with_detail(format!(
                        "the request took longer than {} ms",
                        timeout.as_millis()
                    ))
                    .with_retry_after(1)
                    .into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_garbage_does_not() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 10s "), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in [
            "",
            "10",
            "s",
            "1.5s",
            "-1s",
            "10x",
            "1s2",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_duration("18446744073709551615h"), None);
    }

    #[test]
    fn limits_come_from_the_environment_and_name_a_bad_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Limits::from_lookup(env(&[])), Ok(Limits::default()));
        let set = Limits::from_lookup(env(&[
            ("REQUEST_TIMEOUT", "250ms"),
            ("MAX_IN_FLIGHT", "8"),
            ("SHUTDOWN_DELAY", "0s"),
            ("DRAIN_TIMEOUT", "1m"),
        ]));
        assert_eq!(
            set,
            Ok(Limits {
                request_timeout: Duration::from_millis(250),
                max_in_flight: 8,
                shutdown_delay: Duration::ZERO,
                drain_timeout: Duration::from_secs(60),
            })
        );
        for (name, value) in [
            ("REQUEST_TIMEOUT", "0s"),
            ("REQUEST_TIMEOUT", "soon"),
            ("MAX_IN_FLIGHT", "0"),
            ("MAX_IN_FLIGHT", "lots"),
            ("DRAIN_TIMEOUT", "-1s"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(name, value)].into_boxed_slice());
            let err = Limits::from_lookup(env(pairs)).err().unwrap_or_default();
            assert!(err.starts_with(name), "{name}={value}: {err}");
        }
    }
}
