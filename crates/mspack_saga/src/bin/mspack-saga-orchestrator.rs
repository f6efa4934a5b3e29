//! `mspack-saga-orchestrator`: runs an [`mspack_saga::Orchestrator`] for the sagas defined in a
//! JSON file until SIGINT/SIGTERM.
//!
//! ```text
//! mspack-saga-orchestrator --definitions FILE --stream NAME --reply-subject SUBJECT
//!     [--consumer NAME] [--prefix PREFIX] [--database-url URL] [--nats-url URL] [--tick-ms N]
//! ```
//! The definitions file is a JSON array of sagas:
//! `[{"name": "place-order", "version": 2, "steps": [{"name": "reserve", "action_subject":
//! "kitchen.reserve", "compensation_subject": "kitchen.release", "timeout_ms": 5000,
//! "max_attempts": 3}]}]` (`version` defaults to 1; `compensation_subject`, `timeout_ms` and
//! `max_attempts` are optional). List every version that still has running instances.
//!
//! The orchestrator waits for its database and broker at start, keeps running through their
//! outages, and exits 0 on SIGINT/SIGTERM, 2 on a usage error (a bad definitions file).

use std::process::ExitCode;
use std::time::Duration;

use mspack_eventstore::{Database, TablePrefix, database_url_from_env};
use mspack_outbox::{connect_jetstream, nats_url_from_env};
use mspack_saga::{Orchestrator, SagaDefinition, Step};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SagaFile {
    name: String,
    #[serde(default = "first_version")]
    version: u32,
    steps: Vec<StepFile>,
}

fn first_version() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: String,
    action_subject: String,
    compensation_subject: Option<String>,
    timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
}

impl From<SagaFile> for SagaDefinition {
    fn from(file: SagaFile) -> Self {
        file.steps.into_iter().fold(
            SagaDefinition::new(file.name).version(file.version),
            |def, s| {
                let mut step = Step::new(s.name, s.action_subject);
                if let Some(c) = s.compensation_subject {
                    step = step.compensate_with(c);
                }
                if let Some(ms) = s.timeout_ms {
                    step = step.timeout(Duration::from_millis(ms));
                }
                if let Some(n) = s.max_attempts {
                    step = step.max_attempts(n);
                }
                def.step(step)
            },
        )
    }
}

struct Args {
    definitions: String,
    stream: String,
    reply_subject: String,
    consumer: String,
    prefix: String,
    database_url: String,
    nats_url: String,
    tick: Duration,
}

const USAGE: &str = "usage: mspack-saga-orchestrator --definitions FILE --stream NAME \
    --reply-subject SUBJECT [--consumer NAME] [--prefix PREFIX] [--database-url URL] \
    [--nats-url URL] [--tick-ms N]";

fn parse_args() -> Result<Args, String> {
    let (mut definitions, mut stream, mut reply_subject) = (None, None, None);
    let mut args = Args {
        definitions: String::new(),
        stream: String::new(),
        reply_subject: String::new(),
        consumer: "saga-orchestrator".to_owned(),
        prefix: "mspack_".to_owned(),
        database_url: database_url_from_env(),
        nats_url: nats_url_from_env(),
        tick: Duration::from_millis(100),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--definitions" => definitions = Some(value()?),
            "--stream" => stream = Some(value()?),
            "--reply-subject" => reply_subject = Some(value()?),
            "--consumer" => args.consumer = value()?,
            "--prefix" => args.prefix = value()?,
            "--database-url" => args.database_url = value()?,
            "--nats-url" => args.nats_url = value()?,
            "--tick-ms" => {
                let ms: u64 = value()?.parse().map_err(|e| format!("--tick-ms: {e}"))?;
                args.tick = Duration::from_millis(ms.max(1));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    args.definitions = definitions.ok_or_else(|| format!("--definitions is required\n{USAGE}"))?;
    args.stream = stream.ok_or_else(|| format!("--stream is required\n{USAGE}"))?;
    args.reply_subject =
        reply_subject.ok_or_else(|| format!("--reply-subject is required\n{USAGE}"))?;
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.definitions)
        .map_err(|e| format!("cannot read {}: {e}", args.definitions))?;
    let sagas: Vec<SagaFile> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.definitions))?;
    let definitions: Vec<SagaDefinition> = sagas.into_iter().map(SagaDefinition::from).collect();
    for d in &definitions {
        d.validate()
            .map_err(|e| format!("{}: {e}", args.definitions))?;
    }
    let prefix = TablePrefix::new(args.prefix).map_err(|e| e.to_string())?;
    let mut shutdown = std::pin::pin!(mspack_outbox::process::shutdown_signal());
    let setup = || async {
        let db = Database::connect(&args.database_url)
            .await
            .map_err(|e| e.to_string())?;
        let js = connect_jetstream(&args.nats_url)
            .await
            .map_err(|e| e.to_string())?;
        let orchestrator = Orchestrator::new(
            db,
            prefix.clone(),
            args.reply_subject.clone(),
            definitions.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok::<_, String>((orchestrator, js))
    };
    let Some((orchestrator, js)) =
        mspack_outbox::process::retry_until_ready("mspack-saga-orchestrator", &mut shutdown, setup)
            .await
    else {
        return Ok(());
    };
    orchestrator
        .run(&js, &args.stream, &args.consumer, args.tick, shutdown)
        .await;
    Ok(())
}

fn main() -> ExitCode {
    mspack_outbox::process::run_main("mspack-saga-orchestrator", parse_args, run)
}
