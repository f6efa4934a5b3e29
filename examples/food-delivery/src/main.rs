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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const DEPLOYED: [&str; 4] = ["orders", "payments", "kitchen", "delivery"];

    fn deploy_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(format!("{name}.yaml"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The `args:` of every container in `deploy/`, as flow sequences of plain or quoted words.
    fn container_args(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("args: ["))
            .filter_map(|l| l.strip_suffix(']'))
            .map(|l| {
                l.split(", ")
                    .map(|w| w.trim_matches('"').to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_deployed_command_line_parses_and_serves_its_service() {
        let mut seen = 0;
        for name in DEPLOYED {
            for args in container_args(&deploy_file(name)) {
                let mut argv = vec!["food-delivery".to_owned()];
                argv.extend(args.iter().cloned());
                let cli = Cli::try_parse_from(&argv)
                    .unwrap_or_else(|e| panic!("deploy/{name}.yaml: {argv:?}: {e}"));
                let Command::Serve { role, .. } = cli.command else {
                    panic!("deploy/{name}.yaml runs {argv:?}, not `serve`");
                };
                let roles = Role::parse_list(&role)
                    .unwrap_or_else(|| panic!("deploy/{name}.yaml: unknown roles {role}"));
                let names: Vec<String> = roles.iter().map(|r| r.name()).collect();
                if role == "provider" {
                    assert_eq!(name, "payments", "the provider runs beside payments");
                } else {
                    assert!(names.contains(&name.to_owned()), "{name}: {names:?}");
                    // Nothing publishes what a service wrote unless its relay runs somewhere.
                    assert!(
                        names.contains(&format!("relay-{name}")),
                        "{name}: {names:?}"
                    );
                }
                seen += 1;
            }
        }
        // orders v1 and v2, payments, the provider, kitchen, delivery.
        assert_eq!(seen, 6);
    }

    #[test]
    fn every_environment_variable_deployed_is_one_the_binary_reads() {
        let serve = Cli::command();
        let serve = serve
            .find_subcommand("serve")
            .unwrap_or_else(|| panic!("no serve subcommand"));
        let mut read: Vec<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        // Read by mspack_eventstore::database_url_from_env and Topology::local.
        read.extend(["DATABASE_URL".to_owned(), "NATS_URL".to_owned()]);
        for name in DEPLOYED {
            for line in deploy_file(name).lines() {
                let line = line.trim();
                let Some(var) = line
                    .strip_prefix("- {name: ")
                    .or_else(|| line.strip_prefix("- name: "))
                    .map(|v| v.split([',', ' ']).next().unwrap_or_default())
                else {
                    continue;
                };
                if var.starts_with("OTEL_")
                    || !var.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                {
                    continue;
                }
                assert!(
                    read.iter().any(|r| r == var),
                    "deploy/{name}.yaml sets {var}, which food-delivery does not read ({read:?})"
                );
            }
        }
    }
}
