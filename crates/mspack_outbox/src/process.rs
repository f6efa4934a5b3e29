//! What the relay and saga orchestrator binaries share: a shutdown signal (SIGINT or SIGTERM) and
//! the `main` that parses arguments, starts a runtime and maps the outcome to an exit code.

use std::future::Future;
use std::process::ExitCode;

/// Resolves on Ctrl-C or SIGTERM (never, where SIGTERM cannot be watched).
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs `setup` until it succeeds, pausing with backoff (100 ms doubling to 5 s) after each
/// failure and naming it on standard error; `None` when `shutdown` completes first. A worker
/// started while its database or broker is down waits for them instead of exiting.
pub async fn retry_until_ready<T, E, F, Fut>(
    name: &str,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
    mut setup: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = crate::health::Backoff::new(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(5),
    );
    loop {
        match setup().await {
            Ok(value) => return Some(value),
            Err(e) => {
                eprintln!("{name}: not ready: {e}; retrying");
                tokio::select! {
                    () = &mut *shutdown => return None,
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
}

/// Run a service binary: exit 2 when `parse_args` fails (usage), 1 when the runtime cannot start
/// or `run` fails, 0 when `run` returns after a shutdown. Errors go to stderr prefixed by `name`.
pub fn run_main<A, F>(
    name: &str,
    parse_args: impl FnOnce() -> Result<A, String>,
    run: impl FnOnce(A) -> F,
) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
