//! `mspack-outbox-relay`: runs a [`mspack_outbox::Relay`] until SIGINT/SIGTERM.
//!
//! ```text
//! mspack-outbox-relay [--database-url URL] [--prefix PREFIX] [--nats-url URL]
//!                     [--batch-size N] [--name NAME] [--stream NAME:SUBJECT[,SUBJECT...]]
//!                     [--replicas N] [--progress]
//! ```
//! URLs default to `DATABASE_URL` / `NATS_URL` (then the loopback defaults); the prefix defaults to
//! `mspack_`. `--name` names the relay in the partition leases (a restart under the same name
//! takes its partitions back at once). `--stream` (repeatable) creates or checks a stream at start
//! and after a broker lost it. `--progress` prints one line per batch (`published N duplicates N
//! failed N dead N`) on standard output, which the crash tests read. Built with the
//! `fault-injection` feature, `--hold-before-mark-ms N` waits between JetStream's acknowledgement
//! and marking the rows sent (crash tests only).
//!
//! The relay keeps running through database and broker outages (retrying with backoff) and
//! exits 0 on SIGINT/SIGTERM, 2 on a usage error.

use std::io::Write;
use std::process::ExitCode;

use mspack_eventstore::{Database, TablePrefix, database_url_from_env};
use mspack_outbox::{Relay, RelayConfig, StreamSpec, connect_jetstream, nats_url_from_env};

struct Args {
    database_url: String,
    prefix: String,
    nats_url: String,
    batch_size: usize,
    progress: bool,
    name: Option<String>,
    streams: Vec<StreamSpec>,
    replicas: usize,
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    hold_before_mark: std::time::Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        database_url: database_url_from_env(),
        prefix: "mspack_".to_owned(),
        nats_url: nats_url_from_env(),
        batch_size: RelayConfig::default().batch_size,
        progress: false,
        name: None,
        streams: Vec::new(),
        replicas: 1,
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
            "--name" => args.name = Some(value()?),
            "--replicas" => {
                args.replicas = value()?.parse().map_err(|e| format!("--replicas: {e}"))?;
            }
            "--stream" => {
                let spec = value()?;
                let (name, subjects) = spec
                    .split_once(':')
                    .ok_or_else(|| format!("--stream {spec:?}: expected NAME:SUBJECT[,SUBJECT]"))?;
                args.streams.push(StreamSpec::new(
                    name,
                    subjects.split(',').map(str::to_owned).collect(),
                ));
            }
            #[cfg(feature = "fault-injection")]
            "--hold-before-mark-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--hold-before-mark-ms: {e}"))?;
                args.hold_before_mark = std::time::Duration::from_millis(ms);
            }
            "-h" | "--help" => {
                return Err(
                    "usage: mspack-outbox-relay [--database-url URL] [--prefix PREFIX] \
                     [--nats-url URL] [--batch-size N] [--name NAME] \
                     [--stream NAME:SUBJECT[,SUBJECT]] [--replicas N] [--progress]"
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
    let config = RelayConfig {
        batch_size: args.batch_size.max(1),
        name: args.name,
        streams: args
            .streams
            .into_iter()
            .map(|s| s.replicas(args.replicas))
            .collect(),
        ..RelayConfig::default()
    };
    let mut shutdown = std::pin::pin!(mspack_outbox::process::shutdown_signal());
    let setup = || async {
        let db = Database::connect(&args.database_url)
            .await
            .map_err(|e| e.to_string())?;
        let js = connect_jetstream(&args.nats_url)
            .await
            .map_err(|e| e.to_string())?;
        Relay::new(db, prefix.clone(), js, config.clone())
            .await
            .map_err(|e| e.to_string())
    };
    let Some(relay) =
        mspack_outbox::process::retry_until_ready("mspack-outbox-relay", &mut shutdown, setup)
            .await
    else {
        return Ok(());
    };
    #[cfg(feature = "fault-injection")]
    let relay = relay.inject_faults(mspack_outbox::FaultInjection {
        hold_before_mark: args.hold_before_mark,
    });
    let progress = args.progress;
    relay
        .run(shutdown, |report| {
            if progress {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "published {} duplicates {} failed {} dead {}",
                    report.published, report.duplicates, report.failed, report.dead_lettered
                );
                let _ = out.flush();
            }
        })
        .await;
    Ok(())
}

fn main() -> ExitCode {
    mspack_outbox::process::run_main("mspack-outbox-relay", parse_args, run)
}
