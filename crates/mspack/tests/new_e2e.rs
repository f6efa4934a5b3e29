//! End to end: `mspack new demo` in a temp dir, `cargo test --locked` inside it, then the built
//! service on a free port: `/livez` is 200, an unknown path is an RFC 9457 404, and a span (with
//! the caller's trace id) reaches a small OTLP/HTTP receiver run by this test; on SIGTERM the
//! service drains, flushes and exits 0.
//!
//! Ignored by default (it compiles a project); `.ci/run` runs it:
//! `cargo test -p mspack --test new_e2e -- --ignored`. `MSPACK_BLESS=1` first refreshes the
//! stored lock file of generated services (crates/mspack_templates/service/Cargo.lock.in) from
//! this workspace's Cargo.lock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's target dir, so the generated project reuses compiled dependencies.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("run cargo")
}

/// One request received by the OTLP receiver.
struct Received {
    path: String,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver: accepts POSTs, records path and body, answers 200.
fn start_receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let port = listener.local_addr().expect("receiver address").port();
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || serve_otlp(stream, &sink));
        }
    });
    (port, received)
}

fn serve_otlp(stream: TcpStream, sink: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(mut all) = sink.lock() {
            all.push(Received { path, body });
        }
        let response =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Status, headers (names lowercased) and body of a response.
type Reply = (u16, Vec<(String, String)>, String);

/// A plain HTTP/1.1 GET with `extra` header lines.
fn http_get(port: u16, path: &str, extra: &str) -> Option<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n{extra}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((status, headers, body.to_owned()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = probe() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn bless_lock(project: &Path, name: &str, stored_as: &str) {
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        project.join("Cargo.lock"),
    )
    .expect("copy the workspace lock");
    let out = cargo(project, &["metadata", "--format-version", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).expect("read the lock");
    let stored = lock.replace(&format!("name = \"{name}\"\n"), "name = \"__service__\"\n");
    std::fs::write(
        workspace_root()
            .join("crates/mspack_templates/service")
            .join(stored_as),
        stored,
    )
    .expect("store the lock");
    panic!("{stored_as} refreshed; rebuild mspack and run the test again without MSPACK_BLESS");
}

/// `mspack new <name> <args>` in `dir`, then: one OpenTelemetry minor in the lock, rustfmt
/// clean, `cargo test --locked` green with the service's 8 tests, the binary built. Returns the
/// binary's path.
fn scaffold_and_build(dir: &Path, name: &str, args: &[&str], stored_lock: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_mspack"))
        .arg("new")
        .arg(name)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run mspack new");
    assert!(
        out.status.success(),
        "mspack new failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.join(name);
    if std::env::var_os("MSPACK_BLESS").is_some() {
        bless_lock(&project, name, stored_lock);
    }

    // Single OpenTelemetry minor in the lock file.
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).expect("a Cargo.lock");
    let mut otel_versions: Vec<String> = Vec::new();
    let mut package = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = \"") {
            package = n.trim_end_matches('"');
        } else if let Some(v) = line.strip_prefix("version = \"")
            && package.starts_with("opentelemetry")
        {
            otel_versions.push(v.trim_end_matches('"').to_owned());
        }
    }
    assert!(!otel_versions.is_empty());
    assert!(
        otel_versions.iter().all(|v| v.starts_with("0.33.")),
        "more than one OpenTelemetry minor: {otel_versions:?}"
    );

    let formatted = cargo(&project, &["fmt", "--check"]);
    assert!(
        formatted.status.success(),
        "the generated project is not rustfmt-clean:\n{}",
        String::from_utf8_lossy(&formatted.stdout)
    );
    let tested = cargo(&project, &["test", "--locked"]);
    assert!(
        tested.status.success(),
        "cargo test in the generated project failed (if the lock is stale, rerun with MSPACK_BLESS=1):\n{}\n{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(stdout.contains("test result: ok. 8 passed"), "{stdout}");
    let built = cargo(&project, &["build", "--locked", "--bin", name]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    target_dir().join("debug").join(name)
}

#[test]
#[ignore = "builds a generated project; run by .ci/run with --ignored"]
fn new_service_builds_tests_serves_problems_and_exports_spans() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = scaffold_and_build(dir.path(), "demo", &[], "Cargo.lock.in");

    let (otlp_port, received) = start_receiver();
    let port = free_port();
    let child = Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "200")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
        .env("OTEL_SERVICE_NAME", "demo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let mut service = Service(child);

    let livez = wait_for(Duration::from_secs(30), || {
        http_get(port, "/livez", "").filter(|(s, _, _)| *s == 200)
    });
    assert!(livez.is_some(), "/livez never answered 200");

    let (status, headers, body) = http_get(port, "/no/such/path", "").expect("a 404 response");
    assert_eq!(status, 404);
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(content_type, Some("application/problem+json"));
    let problem: serde_json::Value = serde_json::from_str(&body).expect("a JSON problem");
    assert_eq!(problem["status"], 404);

    // A request carrying a W3C traceparent: its span must reach the receiver with that trace id.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, _, body) = http_get(
        port,
        "/v1/items/42",
        &format!("traceparent: 00-{trace_id}-00f067aa0ba902b7-01\r\n"),
    )
    .expect("an items response");
    assert_eq!(status, 404);
    let problem: serde_json::Value = serde_json::from_str(&body).expect("a JSON problem");
    assert_eq!(
        problem["trace_id"], trace_id,
        "the problem carries the caller's trace id"
    );

    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let span = wait_for(Duration::from_secs(30), || {
        let all = received.lock().ok()?;
        all.iter()
            .any(|r| {
                r.path == "/v1/traces"
                    && contains(&r.body, &trace_bytes)
                    && contains(&r.body, b"GET /v1/items/{id}")
            })
            .then_some(())
    });
    assert!(
        span.is_some(),
        "no span with the caller's trace id reached /v1/traces"
    );
    let metrics = wait_for(Duration::from_secs(30), || {
        let all = received.lock().ok()?;
        all.iter()
            .any(|r| r.path == "/v1/metrics" && contains(&r.body, b"http.server.request.duration"))
            .then_some(())
    });
    assert!(
        metrics.is_some(),
        "no request-duration metric reached /v1/metrics"
    );

    // SIGTERM: drain, flush, exit 0.
    let pid = service.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let exited = wait_for(Duration::from_secs(30), || {
        service.0.try_wait().ok().flatten()
    });
    assert!(
        exited.is_some_and(|s| s.success()),
        "service did not exit 0 after SIGTERM: {exited:?}"
    );
    let logs = received
        .lock()
        .map(|all| all.iter().any(|r| r.path == "/v1/logs"))
        .unwrap_or(false);
    assert!(logs, "no log records were exported");
}

/// A plain HTTP/1.1 POST of a JSON body with `extra` header lines; returns the status.
fn http_post_json(port: u16, path: &str, extra: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    raw.split_whitespace().nth(1)?.parse().ok()
}

/// A nats-server on a free loopback port, stopped on drop.
struct NatsServer(Child, u16);

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats() -> Option<NatsServer> {
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = NatsServer(child, port);
    wait_for(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    })?;
    Some(server)
}

/// Subscribe to `subject` with the raw NATS protocol (headers on); returns the reader once the
/// server confirmed the subscription.
fn nats_subscribe(port: u16, subject: &str) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut writer = stream.try_clone().expect("a writer");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("INFO from nats");
    assert!(line.starts_with("INFO"), "{line}");
    write!(
        writer,
        "CONNECT {{\"verbose\":false,\"headers\":true,\"no_responders\":true}}\r\nSUB {subject} 1\r\nPING\r\n"
    )
    .expect("subscribe");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("PONG from nats");
        if line.starts_with("PONG") {
            return reader;
        }
    }
}

#[test]
#[ignore = "builds a generated project; run by .ci/run with --ignored"]
fn new_service_with_nats_publishes_events_carrying_the_trace() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = scaffold_and_build(
        dir.path(),
        "events-demo",
        &["--messaging", "nats"],
        "Cargo.lock.nats.in",
    );
    let Some(nats) = start_nats() else {
        println!(
            "skipped: publishing to NATS: nats-server is not installed (apt-get install nats-server)"
        );
        return;
    };
    let mut events = nats_subscribe(nats.1, "events_demo.items.created");
    let port = free_port();
    let child = Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("NATS_URL", format!("nats://127.0.0.1:{}", nats.1))
        .env("OTEL_SDK_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let _service = Service(child);
    let ready = wait_for(Duration::from_secs(30), || {
        http_get(port, "/readyz", "").filter(|(s, _, _)| *s == 200)
    });
    assert!(ready.is_some(), "/readyz never answered 200");

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let status = http_post_json(
        port,
        "/v1/items",
        &format!("traceparent: 00-{trace_id}-b7ad6b7169203331-01\r\n"),
        "{\"name\":\"tea\"}",
    );
    assert_eq!(status, Some(201));

    // HMSG <subject> <sid> <header bytes> <total bytes>, then headers and payload.
    let mut line = String::new();
    events.read_line(&mut line).expect("an event");
    assert!(line.starts_with("HMSG events_demo.items.created"), "{line}");
    let total: usize = line
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .expect("a message size");
    let mut message = vec![0; total + 2];
    events.read_exact(&mut message).expect("the message");
    let message = String::from_utf8_lossy(&message);
    assert!(
        message.contains(&format!("traceparent: 00-{trace_id}-")),
        "the event does not carry the caller's trace: {message}"
    );
    assert!(message.contains("\"name\":\"tea\""), "{message}");
}
