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
/// clean, `cargo test --locked` green with the service's tests (`passed`: the summary lines it
/// must print, e.g. `8 passed`), the binary built. Returns the binary's path.
fn scaffold_and_build(
    dir: &Path,
    name: &str,
    args: &[&str],
    stored_lock: &str,
    passed: &[&str],
) -> PathBuf {
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
    for count in passed {
        assert!(
            stdout.contains(&format!("test result: ok. {count}")),
            "{count}: {stdout}"
        );
    }
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
    let binary = scaffold_and_build(dir.path(), "demo", &[], "Cargo.lock.in", &["8 passed"]);

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
        .env("SHUTDOWN_DELAY", "2s")
        .env("DRAIN_TIMEOUT", "3s")
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

    // SIGTERM: not ready at once while still serving (SHUTDOWN_DELAY), then drain, flush,
    // exit 0 within the delay + the drain timeout + the flush budget.
    assert_eq!(http_get(port, "/readyz", "").map(|r| r.0), Some(200));
    let pid = service.0.id().to_string();
    let signalled = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let draining = wait_for(Duration::from_secs(1), || {
        http_get(port, "/readyz", "").filter(|r| r.0 == 503)
    });
    let Some((_, headers, body)) = draining else {
        panic!("/readyz did not answer 503 while draining");
    };
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/problem+json"),
        "{headers:?}"
    );
    assert!(body.contains("\"status\":503"), "{body}");
    assert_eq!(http_get(port, "/livez", "").map(|r| r.0), Some(200));
    let exited = wait_for(Duration::from_secs(30), || {
        service.0.try_wait().ok().flatten()
    });
    assert!(
        exited.is_some_and(|s| s.success()),
        "service did not exit 0 after SIGTERM: {exited:?}"
    );
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(2 + 3 + 5 + 2),
        "stopped after {took:?}"
    );
    let logs = received
        .lock()
        .map(|all| all.iter().any(|r| r.path == "/v1/logs"))
        .unwrap_or(false);
    assert!(logs, "no log records were exported");
}

/// A plain HTTP/1.1 POST of a JSON body with `extra` header lines; returns status and body.
fn http_post_json(port: u16, path: &str, extra: &str, body: &str) -> Option<(u16, String)> {
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
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// True under `CI=true`: a test that needs a server and finds none fails instead of skipping.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `found`, or (when it is `None`) a skip with the reason, which fails under `CI=true`.
fn required<T>(what: &str, found: Option<T>) -> Option<T> {
    if found.is_none() {
        assert!(!in_ci(), "{what} is required under CI=true but unavailable");
        println!("skipped: {what} is unavailable");
    }
    found
}

/// A nats-server with JetStream (store in `store_dir`) on `port`, stopped on drop.
struct NatsServer(Child);

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The nats-server binary on PATH (or Debian's /usr/sbin), if any.
fn nats_server_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nats-server"))
        .find(|p| p.is_file())
}

fn start_nats(binary: &Path, port: u16, store_dir: &Path) -> NatsServer {
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let server = NatsServer(child);
    let up = wait_for(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    assert!(up.is_some(), "nats-server did not listen on {port}");
    server
}

/// A raw NATS protocol connection (headers on), after the server confirmed `setup`.
fn nats_connect(port: u16, setup: &str) -> (TcpStream, BufReader<TcpStream>) {
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
        "CONNECT {{\"verbose\":false,\"headers\":true,\"no_responders\":true}}\r\n{setup}PING\r\n"
    )
    .expect("write to nats");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("PONG from nats");
        if line.starts_with("PONG") {
            return (writer, reader);
        }
    }
}

/// The next `MSG`/`HMSG` on `reader`: headers (empty for `MSG`) and payload.
fn nats_next(reader: &mut BufReader<TcpStream>) -> (String, String) {
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("a message");
        if line.starts_with("PING") {
            continue; // the server's keep-alive; answered by the next read's timeout budget
        }
        break;
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(
        fields.first() == Some(&"MSG") || fields.first() == Some(&"HMSG"),
        "{line}"
    );
    let total: usize = fields.last().and_then(|n| n.parse().ok()).expect("a size");
    let header_len: usize = if fields[0] == "HMSG" {
        fields[fields.len() - 2].parse().expect("a header size")
    } else {
        0
    };
    let mut message = vec![0; total + 2];
    reader.read_exact(&mut message).expect("the message");
    let headers = String::from_utf8_lossy(&message[..header_len]).into_owned();
    let payload = String::from_utf8_lossy(&message[header_len..total]).into_owned();
    (headers, payload)
}

/// A JetStream API request over the raw protocol; the JSON reply.
fn jetstream_request(port: u16, subject: &str, body: &str) -> serde_json::Value {
    let (mut writer, mut reader) = nats_connect(port, "SUB _INBOX.e2e 1\r\n");
    write!(
        writer,
        "PUB {subject} _INBOX.e2e {}\r\n{body}\r\n",
        body.len()
    )
    .expect("a request");
    let (_, payload) = nats_next(&mut reader);
    serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null)
}

/// Standard base64 (the JetStream API's encoding of stored headers and data).
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for chunk in sextets.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, s)| n | (u32::from(*s) << (18 - 6 * i)));
        out.extend(n.to_be_bytes()[1..chunk.len()].iter());
    }
    out
}

/// The message stored at `seq` in `stream`: headers and payload, once it is there.
fn stored_message(port: u16, stream: &str, seq: u64) -> Option<(String, String)> {
    let reply = jetstream_request(
        port,
        &format!("$JS.API.STREAM.MSG.GET.{stream}"),
        &format!("{{\"seq\":{seq}}}"),
    );
    let message = reply.get("message")?;
    let decode = |field: &str| {
        String::from_utf8_lossy(&base64(message[field].as_str().unwrap_or_default())).into_owned()
    };
    Some((decode("hdrs"), decode("data")))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn readyz(port: u16) -> Option<(u16, serde_json::Value)> {
    let (status, _, body) = http_get(port, "/readyz", "")?;
    Some((status, serde_json::from_str(&body).unwrap_or_default()))
}

/// Sends SIGTERM and expects exit 0.
fn stop(mut service: Service) {
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
}

fn start_service(binary: &Path, cwd: &Path, port: u16, env: &[(&str, String)]) -> Service {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("OTEL_SDK_DISABLED", "true")
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    Service(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display())),
    )
}

/// `--messaging nats` (a SQLite store by default): the service starts and serves while NATS is
/// down, accepts a write into the outbox and says so on `/readyz`; once NATS is up the relay
/// delivers that event from the outbox (with the caller's trace), new events reach a live
/// subscriber, and a command message is consumed through the inbox.
#[test]
#[ignore = "builds a generated project; run by .ci/run with --ignored"]
fn new_service_with_nats_publishes_through_the_outbox_and_survives_a_broker_outage() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = scaffold_and_build(
        dir.path(),
        "events-demo",
        &["--messaging", "nats"],
        "Cargo.lock.store.in",
        &["1 passed", "11 passed"],
    );
    let project = dir.path().join("events-demo");
    let answers = std::fs::read_to_string(project.join(".mspack/answers.toml")).expect("answers");
    assert!(answers.contains("store = \"sqlite\""), "{answers}");
    let deployment = std::fs::read_to_string(project.join("deploy/deployment-strategy.yaml"))
        .expect("the deployment");
    assert!(
        deployment.contains("- name: NATS_URL\n          value: \"nats://")
            && deployment.contains("- name: DATABASE_URL\n          value: \"sqlite:/tmp/"),
        "deploy/ sets NATS_URL and DATABASE_URL: {deployment}"
    );
    let Some(nats_binary) = required("nats-server", nats_server_binary()) else {
        return;
    };

    // NATS is down: the service starts, serves, and accepts the write into its outbox.
    let nats_port = free_port();
    let port = free_port();
    let service = start_service(
        &binary,
        dir.path(),
        port,
        &[
            ("NATS_URL", format!("nats://127.0.0.1:{nats_port}")),
            (
                "DATABASE_URL",
                format!("sqlite:{}", dir.path().join("events.db").display()),
            ),
        ],
    );
    let ready = wait_for(Duration::from_secs(30), || {
        readyz(port).filter(|(s, _)| *s == 200)
    });
    let (_, body) = ready.expect("/readyz never answered 200 with NATS down");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_ne!(body["nats"], "connected", "{body}");
    assert!(body["relay"]["status"].is_string(), "{body}");
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let (status, created) = http_post_json(
        port,
        "/v1/items",
        &format!("traceparent: 00-{trace_id}-b7ad6b7169203331-01\r\n"),
        "{\"name\":\"tea\"}",
    )
    .expect("a response");
    assert_eq!(status, 201, "{created}");
    let id = json(&created)["id"].as_str().unwrap_or_default().to_owned();
    let (status, _, read) = http_get(port, &format!("/v1/items/{id}"), "").expect("a response");
    assert_eq!((status, json(&read)["name"].clone()), (200, "tea".into()));
    let (_, body) = readyz(port).expect("/readyz");
    assert_eq!(body["outbox_pending"], 1, "{body}");
    // The relay tried, and says why it could not publish.
    let tried = wait_for(Duration::from_secs(60), || {
        readyz(port).filter(|(_, b)| b["relay"]["status"] == "degraded")
    });
    let (status, body) = tried.expect("the relay never reported itself degraded");
    assert_eq!(
        (status, &body["status"]),
        (200, &"degraded".into()),
        "{body}"
    );
    assert!(body["relay"]["last_error"].is_string(), "{body}");

    // NATS comes up: the relay creates the stream and delivers the event from the outbox.
    let _nats = start_nats(&nats_binary, nats_port, &dir.path().join("jetstream"));
    let stored = wait_for(Duration::from_secs(60), || {
        stored_message(nats_port, "EVENTS_DEMO", 1)
    });
    let (headers, payload) = stored.expect("the event was not delivered after NATS came up");
    assert!(
        headers.contains(&format!("traceparent: 00-{trace_id}-")),
        "the event does not carry the caller's trace: {headers}"
    );
    assert!(headers.contains("Nats-Msg-Id: "), "{headers}");
    assert!(payload.contains("\"name\":\"tea\""), "{payload}");
    let healthy = wait_for(Duration::from_secs(30), || {
        readyz(port)
            .filter(|(s, b)| *s == 200 && b["status"] == "ready" && b["outbox_pending"] == 0)
    });
    assert!(healthy.is_some(), "/readyz: {:?}", readyz(port));

    // With NATS up, a new event reaches a live subscriber, with the caller's trace.
    let (_sub, mut events) = nats_connect(nats_port, "SUB events_demo.items.> 1\r\n");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, _) = http_post_json(
        port,
        "/v1/items",
        &format!("traceparent: 00-{trace_id}-00f067aa0ba902b7-01\r\n"),
        "{\"name\":\"coffee\"}",
    )
    .expect("a response");
    assert_eq!(status, 201);
    let (headers, payload) = nats_next(&mut events);
    assert!(
        headers.contains(&format!("traceparent: 00-{trace_id}-")),
        "{headers}"
    );
    assert!(payload.contains("\"name\":\"coffee\""), "{payload}");

    // A command from another service is consumed through the inbox: the item appears.
    let command_id = "0190f5c4-3b1a-7cc2-9a4e-2f7c1d9e8a01";
    let (mut writer, _reader) = nats_connect(nats_port, "");
    let headers = format!("NATS/1.0\r\nNats-Msg-Id: {command_id}\r\n\r\n");
    let body = "{\"name\":\"milk\"}";
    write!(
        writer,
        "HPUB events_demo.commands.create-item {} {}\r\n{headers}{body}\r\nPING\r\n",
        headers.len(),
        headers.len() + body.len()
    )
    .expect("publish a command");
    let consumed = wait_for(Duration::from_secs(30), || {
        http_get(port, &format!("/v1/items/{command_id}"), "").filter(|(s, _, _)| *s == 200)
    });
    let (_, _, item) = consumed.expect("the command was not consumed");
    assert_eq!(json(&item)["name"], "milk");

    stop(service);
}

/// `--store postgres`: the service keeps its events in PostgreSQL at `DATABASE_URL` (under a
/// table prefix of its own), and deploy/ sets `DATABASE_URL` and `NATS_URL`.
#[test]
#[ignore = "builds a generated project; run by .ci/run with --ignored"]
fn new_service_with_a_postgres_store_uses_database_url() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = scaffold_and_build(
        dir.path(),
        "pg-demo",
        &["--store", "postgres"],
        "Cargo.lock.store.in",
        &["1 passed", "11 passed"],
    );
    let project = dir.path().join("pg-demo");
    let deployment = std::fs::read_to_string(project.join("deploy/deployment-strategy.yaml"))
        .expect("the deployment");
    assert!(
        deployment.contains("- name: DATABASE_URL\n          value: \"postgres://")
            && deployment.contains("- name: NATS_URL"),
        "{deployment}"
    );
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let address = url
        .split_once("://")
        .map(|(_, rest)| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let reachable = TcpStream::connect(&address).ok();
    if required(&format!("PostgreSQL at {address}"), reachable).is_none() {
        return;
    }
    let cwd = tempfile::tempdir().expect("a working directory");
    let prefix = format!("e2e{}_", std::process::id());
    let env = [
        ("DATABASE_URL", url.clone()),
        ("TABLE_PREFIX", prefix),
        ("NATS_URL", format!("nats://127.0.0.1:{}", free_port())),
    ];
    let port = free_port();
    let service = start_service(&binary, cwd.path(), port, &env);
    let ready = wait_for(Duration::from_secs(30), || {
        readyz(port).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "/readyz never answered 200 on {url}");
    let (status, created) =
        http_post_json(port, "/v1/items", "", "{\"name\":\"tea\"}").expect("a response");
    assert_eq!(status, 201, "{created}");
    let id = json(&created)["id"].as_str().unwrap_or_default().to_owned();
    stop(service);
    // Another process on the same database finds the item; nothing was written beside it.
    let port = free_port();
    let service = start_service(&binary, cwd.path(), port, &env);
    let read = wait_for(Duration::from_secs(30), || {
        http_get(port, &format!("/v1/items/{id}"), "").filter(|(s, _, _)| *s == 200)
    });
    let (_, _, item) = read.expect("the item is not in PostgreSQL");
    assert_eq!(json(&item)["name"], "tea");
    let files: Vec<_> = std::fs::read_dir(cwd.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "no SQLite file beside it: {files:?}");
    stop(service);
}
