//! `mspack-saga-orchestrator`: runs an [`mspack_saga::Orchestrator`] for the sagas defined in a
//! JSON file until SIGINT/SIGTERM.
//!
//! ```text
//! mspack-saga-orchestrator --definitions FILE --stream NAME --reply-subject SUBJECT
//!     [--consumer NAME] [--prefix PREFIX] [--database-url URL] [--nats-url URL] [--tick-ms N]
//! ```
//! The definitions file is a JSON array of sagas:
//! `[{"name": "place-order", "steps": [{"name": "reserve", "action_subject": "kitchen.reserve",
//! "compensation_subject": "kitchen.release", "timeout_ms": 5000, "max_attempts": 3}]}]`
//! (`compensation_subject`, `timeout_ms` and `max_attempts` are optional).

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
    steps: Vec<StepFile>,
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
        file.steps
            .into_iter()
            .fold(SagaDefinition::new(file.name), |def, s| {
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
            })
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
    let prefix = TablePrefix::new(args.prefix).map_err(|e| e.to_string())?;
    let db = Database::connect(&args.database_url)
        .await
        .map_err(|e| e.to_string())?;
    let js = connect_jetstream(&args.nats_url)
        .await
        .map_err(|e| e.to_string())?;
    let orchestrator = Orchestrator::new(
        db,
        prefix,
        args.reply_subject,
        sagas.into_iter().map(SagaDefinition::from),
    )
    .await
    .map_err(|e| e.to_string())?;
    let shutdown = mspack_outbox::process::shutdown_signal();
    orchestrator
        .run(&js, &args.stream, &args.consumer, args.tick, shutdown)
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    mspack_outbox::process::run_main("mspack-saga-orchestrator", parse_args, run)
}
