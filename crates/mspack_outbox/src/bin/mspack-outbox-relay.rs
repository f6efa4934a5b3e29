//! `mspack-outbox-relay`: runs a [`mspack_outbox::Relay`] until SIGINT/SIGTERM.
//!
//! ```text
//! mspack-outbox-relay [--database-url URL] [--prefix PREFIX] [--nats-url URL]
//!                     [--batch-size N] [--progress] [--hold-before-mark-ms N]
//! ```
//! URLs default to `DATABASE_URL` / `NATS_URL` (then the loopback defaults); the prefix defaults to
//! `mspack_`. `--progress` prints one line per batch (`published N duplicates N failed N`) on
//! standard output, which the crash test reads. `--hold-before-mark-ms` is fault injection for
//! crash tests: it waits between JetStream's acknowledgement and marking the rows sent.

use std::io::Write;
use std::process::ExitCode;

use mspack_eventstore::{Database, TablePrefix, database_url_from_env};
use mspack_outbox::{Relay, RelayConfig, connect_jetstream, nats_url_from_env};

struct Args {
    database_url: String,
    prefix: String,
    nats_url: String,
    batch_size: usize,
    progress: bool,
    hold_before_mark: std::time::Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        database_url: database_url_from_env(),
        prefix: "mspack_".to_owned(),
        nats_url: nats_url_from_env(),
        batch_size: RelayConfig::default().batch_size,
        progress: false,
        hold_before_mark: std::time::Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--database-url" => args.database_url = value()?,
            "--prefix" => args.prefix = value()?,
            "--nats-url" => args.nats_url = value()?,
            "--batch-size" => {
                args.batch_size = value()?.parse().map_err(|e| format!("--batch-size: {e}"))?;
            }
            "--progress" => args.progress = true,
            "--hold-before-mark-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--hold-before-mark-ms: {e}"))?;
                args.hold_before_mark = std::time::Duration::from_millis(ms);
            }
            "-h" | "--help" => {
                return Err(
                    "usage: mspack-outbox-relay [--database-url URL] [--prefix PREFIX] \
                     [--nats-url URL] [--batch-size N] [--progress] [--hold-before-mark-ms N]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    let prefix = TablePrefix::new(args.prefix).map_err(|e| e.to_string())?;
    let db = Database::connect(&args.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let js = connect_jetstream(&args.nats_url)
        .await
        .map_err(|e| e.to_string())?;
    let config = RelayConfig {
        batch_size: args.batch_size.max(1),
        hold_before_mark: args.hold_before_mark,
        ..RelayConfig::default()
    };
    let relay = Relay::new(db, prefix, js, config)
        .await
        .map_err(|e| e.to_string())?;
    let progress = args.progress;
    let shutdown = mspack_outbox::process::shutdown_signal();
    relay
        .run(shutdown, |report| {
            if progress {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "published {} duplicates {} failed {}",
                    report.published, report.duplicates, report.failed
                );
                let _ = out.flush();
            }
        })
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    mspack_outbox::process::run_main("mspack-outbox-relay", parse_args, run)
}
