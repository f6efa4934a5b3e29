//! `mspack new`: scaffold a service from flags (prompting only on a terminal), print the plan
//! with `--dry-run`, or write it atomically.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mspack_templates::scaffold::{self, Messaging, ServiceSpec, Store};

#[derive(Clone, Copy, ValueEnum)]
enum MessagingArg {
    None,
    Nats,
}

#[derive(Clone, Copy, ValueEnum)]
enum StoreArg {
    Sqlite,
    Postgres,
}

#[derive(Args)]
pub struct NewArgs {
    /// Service name (DNS-1035 label: lowercase letters, digits, '-', starting with a letter)
    name: String,
    /// Kubernetes namespace (default: the service name)
    #[arg(long)]
    namespace: Option<String>,
    /// HTTP port (1-65535, not Istio's 15000-15090)
    #[arg(long)]
    port: Option<u16>,
    /// How the mesh spans clusters: ambient labels the Service istio.io/global (ambient
    /// Services are cluster-local without it); sidecar needs no label (mesh-wide already)
    #[arg(long, value_enum, value_name = "MODE")]
    multicluster: Option<crate::lint::MulticlusterArg>,
    /// Asynchronous messaging: `nats` publishes the service's events through a transactional
    /// outbox and consumes commands through an inbox, so it needs a store (`--store`, default
    /// sqlite with nats). Default: none, or nats with --store
    #[arg(long, value_enum)]
    messaging: Option<MessagingArg>,
    /// Event store of an event-sourced service (mspack_eventstore + mspack_outbox): events and
    /// their outbox rows in one transaction, a projection for queries, the relay to NATS in the
    /// process. Implies --messaging nats; default sqlite when --messaging nats is given
    #[arg(long, value_enum)]
    store: Option<StoreArg>,
    /// Directory to create (default: ./<name>)
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
    /// Replace an existing directory (the previous tree is moved to a backup beside it, never
    /// deleted)
    #[arg(long)]
    force: bool,
    /// Print the files that would be written, write nothing
    #[arg(long)]
    dry_run: bool,
}

/// Ask on a terminal, keeping `default` on an empty answer.
fn prompt(question: &str, default: &str) -> Result<String> {
    let mut stderr = std::io::stderr();
    write!(stderr, "{question} [{default}]: ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim();
    Ok(if answer.is_empty() {
        default.to_owned()
    } else {
        answer.to_owned()
    })
}

pub fn run(args: NewArgs) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let namespace = match (&args.namespace, interactive) {
        (Some(ns), _) => ns.clone(),
        (None, true) => prompt("namespace", &args.name)?,
        (None, false) => args.name.clone(),
    };
    let port = match (args.port, interactive) {
        (Some(p), _) => p,
        (None, true) => prompt("port", "8080")?
            .parse()
            .context("--port must be a number 1-65535")?,
        (None, false) => 8080,
    };
    let messaging = match (args.messaging, args.store) {
        (Some(MessagingArg::None), _) | (None, None) => Messaging::None,
        (Some(MessagingArg::Nats), _) | (None, Some(_)) => Messaging::Nats,
    };
    let mut spec = ServiceSpec::new(
        &args.name,
        Some(&namespace),
        port,
        args.multicluster.map(Into::into).unwrap_or_default(),
        messaging,
    )?;
    if let Some(store) = args.store {
        spec = spec.with_store(match store {
            StoreArg::Sqlite => Store::Sqlite,
            StoreArg::Postgres => Store::Postgres,
        })?;
    }
    // With the record of what was generated: the base of a later `mspack update`.
    let files = mspack_templates::update::with_base(scaffold::plan(&spec)?)?;
    let dest = args.output.unwrap_or_else(|| PathBuf::from(&spec.name));
    if args.dry_run {
        let mut stdout = std::io::stdout().lock();
        for path in files.paths() {
            let _ = writeln!(stdout, "{}", dest.join(path).display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(backup) = scaffold::write(&files, &dest, args.force)? {
        eprintln!(
            "replaced {}; the previous tree (every file of it) is now {}",
            dest.display(),
            backup.display()
        );
    }
    eprintln!(
        "created {} ({} files): cd {} && cargo test",
        dest.display(),
        files.files.len(),
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}
