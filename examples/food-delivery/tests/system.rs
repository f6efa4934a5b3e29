//! The food-delivery binary as a user runs it: `run` followed by `load` (SQLite files and the
//! NATS at `NATS_URL`), and a small `chaos` run (separate processes on PostgreSQL and a private
//! NATS JetStream, with kills), whose invariants are checked from the data by the binary itself.
//! Both need the real servers: `scripts/ci-services.sh` provides them (started by the tests when
//! absent); under `CI=true` a missing server fails the test.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_food-delivery");

/// A base port with `n` (at most 20) free consecutive ports after it. Each call in this
/// process starts at another candidate: the tests run in parallel, and two of them checking the
/// same free range before either binds it would share it (one test's readiness probe then
/// answered from the other's server).
fn free_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    assert!(n <= 20, "ranges are 20 ports apart");
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let seed = std::process::id() % 2000 + call * 97;
    (0..400u32)
        .map(|i| 21000 + u16::try_from((seed + i * 37) % 2000).unwrap_or(0) * 20)
        .find(|&base| (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()))
        .expect("no free port range")
}

/// Kills the child on drop (a failing assertion must not leave the system running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(url: &str, within: Duration) -> bool {
    let started = Instant::now();
    let client = probe::blocking_client();
    while started.elapsed() < within {
        if client(url) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A readiness probe without an HTTP client crate in the test: HTTP/1.0 over a TCP stream.
mod probe {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    pub fn blocking_client() -> impl Fn(&str) -> bool {
        |url: &str| {
            let Some(rest) = url.strip_prefix("http://") else {
                return false;
            };
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let Ok(mut stream) = TcpStream::connect(host) else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            if write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_err() {
                return false;
            }
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
        }
    }
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn nats_available() -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(mspack_testkit::nats()).is_some()
}

fn postgres_available() -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(mspack_testkit::postgres_pool()).is_some()
}

/// README: `food-delivery run`, then `food-delivery load`: every order ends, with the planned
/// failures cancelled and the others delivered; then SIGTERM stops the process cleanly.
#[test]
fn run_then_load_finishes_every_order() {
    if !nats_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(12);
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let child = Command::new(BIN)
        .arg("run")
        .args(["--data", &data.path().display().to_string()])
        .args([
            "--root",
            &format!("fdt{id}"),
            "--stream",
            &format!("FDT{id}"),
        ])
        .args(["--base-port", &base.to_string()])
        .args(["--provider-port", &(base + 4).to_string()])
        .env("NATS_URL", mspack_testkit::nats_url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let orders = format!("http://127.0.0.1:{base}");
    assert!(
        wait_ready(&format!("{orders}/readyz"), Duration::from_secs(60)),
        "food-delivery run was not ready within 60 s"
    );

    let out = Command::new(BIN)
        .args(["load", "--orders", "30", "--rate", "15", "--mix"])
        .args(["--url", &orders])
        .output()
        .unwrap();
    let report = json_of(&out);
    assert!(out.status.success(), "load failed: {report}");
    assert_eq!(count(&report, "orders"), 30, "{report}");
    assert_eq!(count(&report, "unfinished"), 0, "{report}");
    assert_eq!(
        count(&report, "completed") + count(&report, "cancelled"),
        30,
        "{report}"
    );
    // The mix plans declines, refusals and cancellations for some orders, not for most.
    assert!(count(&report, "completed") >= 10, "{report}");
    assert!(count(&report, "cancelled") >= 1, "{report}");
    assert!(report["p50_ms"].as_f64().unwrap_or(0.0) > 0.0, "{report}");

    // SIGTERM: the process drains and exits 0.
    let pid = running.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "run did not stop cleanly on SIGTERM: {status:?}"
    );
    assert!(
        has_files(data.path()),
        "no SQLite files in the data directory"
    );
}

fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// A small chaos run: every role its own process on PostgreSQL and a private JetStream, orders
/// with planned failures, processes killed with SIGKILL and restarted, backends terminated, the
/// broker restarted; the binary checks every invariant from the databases and the provider's
/// ledger and exits non-zero on any violation.
#[test]
fn a_small_chaos_run_keeps_every_invariant() {
    if !postgres_available() {
        return;
    }
    if mspack_testkit::nats_server_binary().is_none() {
        mspack_testkit::unavailable::<()>("a nats-server binary", "scripts/nats-server.sh failed");
        return;
    }
    // Seed 13's schedule starts kill -9 payments, kill -9 another role, restart the broker, two
    // more kills (the draws are fixed by the seed; only how many faults fit depends on timing),
    // and 50 orders at 5/s leave room for about six faults.
    let out = Command::new(BIN)
        .args(["chaos", "--runs", "1", "--orders", "50", "--rate", "5"])
        .args(["--seed", "13", "--json"])
        .env("DATABASE_URL", mspack_eventstore::database_url_from_env())
        .output()
        .unwrap();
    let report = json_of(&out);
    assert!(
        out.status.success(),
        "chaos exited {:?}: {report}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["violations"], Value::Array(Vec::new()), "{report}");
    assert_eq!(count(&report, "orders"), 50, "{report}");
    assert_eq!(
        count(&report, "completed") + count(&report, "cancelled"),
        50,
        "{report}"
    );
    assert!(count(&report, "kills") >= 2, "too few kills: {report}");
}

/// Processes whose command line contains `needle` (from /proc).
fn processes_with(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(needle)
            .then_some(pid)
    })
    .collect()
}

/// `services` killed with SIGKILL runs no cleanup; the role processes it started notice that
/// their supervisor is gone and stop, instead of living on with the ports and connections.
#[test]
fn the_roles_of_services_stop_when_their_supervisor_is_killed() {
    if !nats_available() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let base = free_ports(12);
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let root = format!("fds{id}");
    let child = Command::new(BIN)
        .arg("services")
        .args(["--data", &data.path().display().to_string()])
        .args(["--root", &root, "--stream", &format!("FDS{id}")])
        .args(["--base-port", &base.to_string()])
        .args(["--provider-port", &(base + 4).to_string()])
        .env("NATS_URL", mspack_testkit::nats_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut supervisor = Running(child);
    assert!(
        wait_ready(
            &format!("http://127.0.0.1:{base}/readyz"),
            Duration::from_secs(60)
        ),
        "services not ready within 60 s"
    );
    // The supervisor and its ten roles (a role that exits at start-up is restarted by the
    // supervisor within half a second, so wait for all of them).
    let started = Instant::now();
    let mut roles = processes_with(&root);
    while roles.len() < 11 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
        roles = processes_with(&root);
    }
    assert!(roles.len() >= 11, "every role runs: {roles:?}");
    supervisor.0.kill().unwrap();
    let _ = supervisor.0.wait();
    let started = Instant::now();
    while !processes_with(&root).is_empty() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = processes_with(&root);
    for pid in &left {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(left.is_empty(), "orphaned role processes: {left:?}");
}
