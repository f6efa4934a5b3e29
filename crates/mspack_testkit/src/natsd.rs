//! Private nats-server processes for tests that restart, kill or cluster the broker.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The nats-server binary to run: `MSPACK_NATS_SERVER`, else the one `scripts/nats-server.sh`
/// installs into the workspace's `target/nats-server/`, else none.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("MSPACK_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidate = here.join("../../target/nats-server/nats-server");
    candidate.is_file().then_some(candidate)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A nats-server with JetStream in a temporary store directory, on a free loopback port;
/// killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    config: PathBuf,
    store: PathBuf,
    port: u16,
    child: Option<Child>,
    _dir: TempDir,
}

/// A directory removed on drop (no tempfile dependency for a test-support crate).
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl NatsServer {
    /// Starts a server whose JetStream store syncs every write to disk (`sync_interval:
    /// always`), or `None` (after `crate::unavailable`) without a 2.10+ binary.
    pub fn start() -> Option<NatsServer> {
        if nats_server_binary().is_none() {
            crate::run_script_once("nats-server.sh");
        }
        let Some(binary) = nats_server_binary() else {
            return crate::unavailable(
                "nats-server 2.10+ (run scripts/nats-server.sh)",
                "not installed under target/nats-server",
            );
        };
        let dir =
            std::env::temp_dir().join(format!("mspack-natsd-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let port = free_port();
        let store = dir.join("store");
        let config = dir.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
                store.display()
            ),
        )
        .expect("write nats config");
        let mut server = NatsServer {
            binary,
            config,
            store,
            port,
            child: None,
            _dir: TempDir(dir),
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nats-server did not listen on {} within 5 s", self.port);
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (no flush, no goodbye).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and deletes its store: what a broker host's lost disk looks like.
    pub fn kill_and_lose_data(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }

    /// Starts the server again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
