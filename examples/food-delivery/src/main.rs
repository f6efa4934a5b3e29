//! `food-delivery`: the food-delivery system built on mspack's crates.
//!
//! ```text
//! food-delivery run       [--data DIR] [--postgres]   all services, relays and the orchestrator in one process
//! food-delivery services  [--data DIR] [--postgres]   each of them in its own process
//! food-delivery serve ROLE[,ROLE...]                  roles in one process (`services`, `chaos`, a pod)
//! food-delivery load --orders N --rate R [--url URL] [--mix]
//! food-delivery chaos --runs N --orders M [--seed S] [--json]
//! ```

mod app;
mod chaos;
mod domain;
mod load;
mod runtime;
mod saga;
mod services;
mod topology;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::app::Role;
use crate::topology::Topology;

#[derive(Parser)]
#[command(
    name = "food-delivery",
    version,
    about = "The food-delivery system on mspack's crates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service, relay and the orchestrator in this process (SQLite in --data, or
    /// PostgreSQL with --postgres).
    Run(Deployment),
    /// Every role in its own process, restarted if it exits.
    Services(Deployment),
    /// One role (orders, payments, kitchen, delivery, orchestrator, provider or
    /// relay-<service>), or several comma-separated with at most one API: what a pod runs,
    /// e.g. `orders,orchestrator,relay-orders`.
    Serve {
        /// The role.
        role: String,
        #[command(flatten)]
        deployment: Deployment,
    },
    /// Place orders over HTTP at a steady rate and wait for each to end; prints JSON.
    Load {
        /// How many orders.
        #[arg(long, default_value_t = 100)]
        orders: usize,
        /// Orders per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// The orders service.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Give some orders planned failures (declines, kitchen refusals, provider timeouts,
        /// customer cancellations).
        #[arg(long)]
        mix: bool,
    },
    /// Runs the system as separate processes on PostgreSQL and a private NATS JetStream, places
    /// orders while killing processes, terminating database backends, restarting the broker and
    /// slowing the provider, then checks the invariants from the data.
    Chaos(chaos::ChaosArgs),
}

/// Where the system runs.
#[derive(Args, Clone)]
struct Deployment {
    /// Directory of the SQLite files.
    #[arg(long, default_value = "food-delivery-data")]
    data: PathBuf,
    /// Use PostgreSQL at DATABASE_URL instead of SQLite files.
    #[arg(long)]
    postgres: bool,
    /// PostgreSQL URL (implies --postgres).
    #[arg(long)]
    database_url: Option<String>,
    /// NATS URL (default NATS_URL, then nats://127.0.0.1:4222).
    #[arg(long)]
    nats_url: Option<String>,
    /// Subject root.
    #[arg(long, default_value = "fd")]
    root: String,
    /// JetStream stream.
    #[arg(long, default_value = "FD")]
    stream: String,
    /// Table prefix root.
    #[arg(long, default_value = "fd_")]
    prefix: String,
    /// Port of the orders service (payments, kitchen and delivery take the next three).
    #[arg(long, default_value_t = 8080)]
    base_port: u16,
    /// Port of the payment provider (the orchestrator and relays take the next five).
    #[arg(long, default_value_t = 8090)]
    provider_port: u16,
    /// Stream replicas (3 on a 3-node cluster).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Saga step timeout.
    #[arg(long, default_value_t = 2000)]
    step_timeout_ms: u64,
    /// Address the HTTP servers bind (0.0.0.0 in a container).
    #[arg(long, env = "LISTEN_ADDRESS", default_value = "127.0.0.1")]
    listen: String,
    /// Port of the one service (or provider) this process serves, instead of its offset from
    /// --base-port (what a pod uses).
    #[arg(long, env = "PORT")]
    port: Option<u16>,
    /// URL of the payment provider (default: 127.0.0.1 at --provider-port).
    #[arg(long, env = "PROVIDER_URL")]
    provider_url: Option<String>,
}

impl Deployment {
    fn topology(&self) -> Topology {
        let mut t = Topology::local(self.data.clone());
        t.root.clone_from(&self.root);
        t.stream.clone_from(&self.stream);
        t.prefix_root.clone_from(&self.prefix);
        t.base_port = self.base_port;
        t.provider_port = self.provider_port;
        t.replicas = self.replicas;
        t.step_timeout = Duration::from_millis(self.step_timeout_ms);
        t.listen.clone_from(&self.listen);
        t.port_override = self.port;
        t.provider_url_override.clone_from(&self.provider_url);
        if let Some(url) = &self.nats_url {
            t.nats_url.clone_from(url);
        }
        t.database_url = match &self.database_url {
            Some(url) => Some(url.clone()),
            None => self.postgres.then(mspack_eventstore::database_url_from_env),
        };
        t
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(d) => app::run_process("all", d.topology(), Role::all()),
        Command::Serve { role, deployment } => match Role::parse_list(&role) {
            Some(roles) => app::run_process(&role, deployment.topology(), roles),
            None => {
                eprintln!("food-delivery: unknown role {role:?}");
                return ExitCode::from(2);
            }
        },
        Command::Services(d) => chaos::supervise(d.topology()),
        Command::Load {
            orders,
            rate,
            url,
            mix,
        } => run_load(url, orders, rate, mix),
        Command::Chaos(args) => return chaos::main(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("food-delivery: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_load(url: String, orders: usize, rate: f64, mix: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(load::run(load::LoadConfig {
        url,
        orders,
        rate,
        mix,
        run_id: uuid::Uuid::new_v4().simple().to_string(),
        order_timeout: Duration::from_secs(60),
    }));
    println!("{}", serde_json::to_string(&report)?);
    if report.unfinished > 0 {
        anyhow::bail!("{} orders did not finish", report.unfinished);
    }
    Ok(())
}
