//! The processes of a deployment: spawned from this executable (`food-delivery serve ROLE`),
//! killed with SIGKILL, stopped with SIGTERM, restarted, and a private nats-server the chaos
//! run can kill and restart.

use std::collections::HashMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::app::Role;
use crate::topology::Topology;

/// The role processes of one deployment.
pub struct Procs {
    exe: PathBuf,
    topology: Topology,
    logs: PathBuf,
    children: HashMap<String, (Role, Child)>,
}

impl Procs {
    /// No process yet; logs go to `logs`.
    pub fn new(topology: Topology, logs: PathBuf) -> anyhow::Result<Procs> {
        std::fs::create_dir_all(&logs)?;
        Ok(Procs {
            exe: std::env::current_exe()?,
            topology,
            logs,
            children: HashMap::new(),
        })
    }

    /// Starts `role` (its output appended to `<logs>/<role>.log`).
    pub fn start(&mut self, role: Role) -> anyhow::Result<()> {
        let name = role.name();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{name}.log")))?;
        let child = Command::new(&self.exe)
            .arg("serve")
            .arg(&name)
            .args(self.topology.to_args())
            .env("OTEL_SDK_DISABLED", "true")
            // A supervisor killed with SIGKILL runs no cleanup: the children stop by themselves.
            .env(crate::app::SUPERVISOR_PID, std::process::id().to_string())
            .env(
                "RUST_LOG",
                std::env::var("FD_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.children.insert(name, (role, child));
        Ok(())
    }

    /// SIGKILL: no shutdown hook runs, nothing is flushed.
    pub fn kill9(&mut self, role: Role) {
        if let Some((_, mut child)) = self.children.remove(&role.name()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts roles whose process exited on its own; returns their names.
    pub fn revive(&mut self) -> Vec<String> {
        let exited: Vec<Role> = self
            .children
            .values_mut()
            .filter_map(|(role, child)| matches!(child.try_wait(), Ok(Some(_))).then_some(*role))
            .collect();
        let mut names = Vec::new();
        for role in exited {
            if self.start(role).is_ok() {
                names.push(role.name());
            }
        }
        names
    }

    /// Waits until every role answers `/readyz` (or `timeout`); returns the ones that don't.
    pub async fn wait_ready(&self, roles: &[Role], timeout: Duration) -> Vec<String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap_or_default();
        let deadline = Instant::now() + timeout;
        let mut waiting: Vec<Role> = roles.to_vec();
        while !waiting.is_empty() && Instant::now() < deadline {
            let mut still = Vec::new();
            for role in waiting {
                let url = format!("http://127.0.0.1:{}/readyz", role.port(&self.topology));
                let ready = client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ready {
                    still.push(role);
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        waiting.iter().map(|r| r.name()).collect()
    }

    /// SIGTERM to every process, then SIGKILL for those still there after a grace period.
    pub fn stop_all(&mut self) {
        for (_, child) in self.children.values() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, (_, mut child)) in self.children.drain() {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// `n` consecutive ports nobody listens on, below the kernel's ephemeral range (32768 and up on
/// Linux), so an outgoing connection can't take one between the check and the bind.
pub fn free_ports(n: u16) -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..500u32 {
        let base = 20_000 + ((seed.wrapping_add(attempt.wrapping_mul(7919)) % 1_200) as u16) * 10;
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    20_000
}

/// A private nats-server with JetStream (file storage synced on every write when the binary
/// supports it), on a free port.
pub struct Broker {
    binary: PathBuf,
    config: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Its version supports `sync_interval: always`.
    pub synced: bool,
}

/// The nats-server to run: `MSPACK_NATS_SERVER`, the 2.10+ one `scripts/nats-server.sh` puts
/// under `target/nats-server/`, or the one on PATH.
pub fn nats_binary() -> Option<(PathBuf, bool)> {
    if let Ok(path) = std::env::var("MSPACK_NATS_SERVER") {
        return Some((PathBuf::from(path), true));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = here.join("../../target/nats-server/nats-server");
    if ours.is_file() {
        return Some((ours, true));
    }
    let script = here.join("../../scripts/nats-server.sh");
    if script.is_file()
        && Command::new("bash")
            .arg(&script)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        && ours.is_file()
    {
        return Some((ours, true));
    }
    let on_path = Command::new("nats-server").arg("--version").output().ok()?;
    on_path
        .status
        .success()
        .then(|| (PathBuf::from("nats-server"), false))
}

impl Broker {
    /// Starts a broker with its store under `dir`.
    pub fn start(dir: &Path) -> anyhow::Result<Broker> {
        let (binary, synced) = nats_binary()
            .ok_or_else(|| anyhow::anyhow!("no nats-server binary (run scripts/nats-server.sh)"))?;
        std::fs::create_dir_all(dir)?;
        let port = free_ports(1);
        let store = dir.join("jetstream");
        let config = dir.join("nats.conf");
        let sync = if synced {
            "  sync_interval: always\n"
        } else {
            ""
        };
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n{sync}}}\n",
                store.display()
            ),
        )?;
        let mut broker = Broker {
            binary,
            config,
            port,
            child: None,
            synced,
        };
        broker.spawn()?;
        Ok(broker)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        anyhow::bail!("nats-server did not listen on {} within 10 s", self.port)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, then start again on the same port and store.
    pub fn restart(&mut self, down_for: Duration) -> anyhow::Result<()> {
        self.kill();
        std::thread::sleep(down_for);
        self.spawn()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
