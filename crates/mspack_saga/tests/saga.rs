//! Sagas end to end over real PostgreSQL and NATS JetStream: commands and replies go through the
//! outbox, the relay and durable consumers. Skips with a reason when either server is absent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use mspack_eventstore::{Database, TablePrefix, database_url_from_env};
use mspack_outbox::{Relay, RelayConfig, connect_jetstream, ensure_stream, nats_url_from_env};
use mspack_saga::{
    Command, CommandKind, Orchestrator, Outcome, Participant, SagaDefinition, SagaState,
    SagaStatus, Step,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use tokio::task::JoinHandle;
use uuid::Uuid;

type Log = Arc<Mutex<Vec<String>>>;

struct World {
    db: Database,
    pool: Option<PgPool>,
    _dir: Option<tempfile::TempDir>,
    js: jetstream::Context,
    prefix: TablePrefix,
    base: String,
    stream: String,
    tasks: Vec<JoinHandle<()>>,
    log: Log,
}

impl World {
    /// A world on SQLite (a temporary file) and NATS.
    async fn sqlite() -> Option<World> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open_sqlite(dir.path().join("saga.db"))
            .await
            .expect("sqlite");
        Self::with_db(db, None, Some(dir)).await
    }

    /// A world on PostgreSQL and NATS.
    async fn new() -> Option<World> {
        let url = database_url_from_env();
        let pool = match sqlx::postgres::PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await
        {
            Ok(pool) => pool,
            Err(e) => {
                eprintln!("skipping: PostgreSQL not reachable at {url}: {e}");
                return None;
            }
        };
        Self::with_db(Database::Postgres(pool.clone()), Some(pool), None).await
    }

    async fn with_db(
        db: Database,
        pool: Option<PgPool>,
        dir: Option<tempfile::TempDir>,
    ) -> Option<World> {
        let js = match connect_jetstream(&nats_url_from_env()).await {
            Ok(js) => js,
            Err(e) => {
                eprintln!("skipping: NATS not reachable: {e}");
                return None;
            }
        };
        let id = &Uuid::new_v4().simple().to_string()[..12];
        let world = World {
            db,
            pool,
            _dir: dir,
            js,
            prefix: TablePrefix::new(format!("t{id}_")).expect("prefix"),
            base: format!("t{id}"),
            stream: format!("T{id}"),
            tasks: Vec::new(),
            log: Arc::default(),
        };
        ensure_stream(&world.js, &world.stream, vec![format!("{}.>", world.base)])
            .await
            .expect("stream");
        Some(world)
    }

    fn db(&self) -> Database {
        self.db.clone()
    }

    fn subject(&self, s: &str) -> String {
        format!("{}.{s}", self.base)
    }

    fn definition(&self) -> SagaDefinition {
        let step = |name: &str, service: &str, action: &str, undo: &str| {
            Step::new(name, self.subject(&format!("{service}.{action}")))
                .compensate_with(self.subject(&format!("{service}.{undo}")))
                .timeout(Duration::from_millis(1500))
                .max_attempts(3)
        };
        SagaDefinition::new("place-order")
            .step(step("reserve-kitchen", "kitchen", "reserve", "release"))
            .step(step("charge-payment", "payment", "charge", "refund"))
            .step(step("assign-courier", "delivery", "assign", "unassign"))
    }

    async fn orchestrator(&self) -> Orchestrator {
        Orchestrator::new(
            self.db(),
            self.prefix.clone(),
            self.subject("saga.replies"),
            [self.definition()],
        )
        .await
        .expect("orchestrator")
    }

    /// Starts the relay and returns its task.
    async fn spawn_relay(&mut self) -> JoinHandle<()> {
        let relay = Relay::new(
            self.db(),
            self.prefix.clone(),
            self.js.clone(),
            RelayConfig::default(),
        )
        .await
        .expect("relay");
        tokio::spawn(async move {
            relay
                .run(std::future::pending(), |_| {})
                .await
                .expect("relay run");
        })
    }

    /// Starts an orchestrator's reply loop and returns its task.
    async fn spawn_orchestrator(&self) -> JoinHandle<()> {
        let orchestrator = self.orchestrator().await;
        let (js, stream) = (self.js.clone(), self.stream.clone());
        tokio::spawn(async move {
            orchestrator
                .run(
                    &js,
                    &stream,
                    "orchestrator",
                    Duration::from_millis(50),
                    std::future::pending(),
                )
                .await
                .expect("orchestrator run");
        })
    }

    /// A participant serving `service.>` commands; `decide` picks each outcome, or `None` to
    /// drop the command on the floor (simulating a lost message).
    async fn spawn_participant<F>(&mut self, service: &str, decide: F)
    where
        F: Fn(&Command) -> Option<Outcome> + Send + Sync + 'static,
    {
        let participant = Participant::new(self.db(), self.prefix.clone(), service)
            .await
            .expect("participant");
        let stream = self.js.get_stream(&self.stream).await.expect("stream");
        let consumer = stream
            .get_or_create_consumer(
                service,
                pull::Config {
                    durable_name: Some(service.to_owned()),
                    filter_subject: self.subject(&format!("{service}.>")),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .expect("consumer");
        let log = self.log.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut messages = consumer.messages().await.expect("messages");
            while let Some(Ok(msg)) = messages.next().await {
                let command = Command::from_json(&msg.payload).expect("command");
                if let Some(outcome) = decide(&command) {
                    let log = log.clone();
                    participant
                        .process(&msg.payload, |cmd, tx| async move {
                            let kind = match cmd.kind {
                                CommandKind::Action => "do",
                                CommandKind::Compensation => "undo",
                            };
                            log.lock()
                                .expect("log")
                                .push(format!("{kind} {}", cmd.step_name));
                            Ok((tx, outcome))
                        })
                        .await
                        .expect("process");
                }
                msg.ack().await.expect("ack");
            }
        }));
    }

    async fn wait_for(
        &self,
        orchestrator: &Orchestrator,
        id: Uuid,
        done: impl Fn(&SagaState) -> bool,
    ) -> SagaState {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(state) = orchestrator.state(id).await.expect("state") {
                if done(&state) {
                    return state;
                }
                assert!(
                    Instant::now() < deadline,
                    "saga stuck at {state:?}, log {:?}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    async fn finish(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.js.delete_stream(&self.stream).await;
        let sql = format!(
            "DO $$ DECLARE r record; BEGIN \
             FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '{p}%' LOOP \
               EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP; \
             EXECUTE 'DROP FUNCTION IF EXISTS {p}append CASCADE'; END $$",
            p = self.prefix.as_str()
        );
        if let Some(pool) = &self.pool {
            let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await;
        }
    }
}

fn success(_: &Command) -> Option<Outcome> {
    Some(Outcome::Success)
}

async fn compensations_run_in_reverse_order(mut w: World) {
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    w.spawn_participant("payment", success).await;
    w.spawn_participant("delivery", |c| {
        Some(match c.kind {
            CommandKind::Action => Outcome::Failure {
                reason: "no courier nearby".into(),
                retryable: false,
            },
            CommandKind::Compensation => Outcome::Success,
        })
    })
    .await;
    let orchestrator = w.spawn_orchestrator().await;
    w.tasks.push(orchestrator);
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({ "order": 42 }), None)
        .await
        .expect("start");
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    assert_eq!(state.status, SagaStatus::Compensated, "{state:?}");
    assert!(
        state
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no courier"))
    );
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier",
            "undo charge-payment",
            "undo reserve-kitchen"
        ]
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_three_failing_runs_compensations_two_then_one() {
    let Some(w) = World::new().await else { return };
    compensations_run_in_reverse_order(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_step_three_failing_runs_compensations_two_then_one() {
    let Some(w) = World::sqlite().await else {
        return;
    };
    compensations_run_in_reverse_order(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saga_killed_between_steps_resumes_and_finishes() {
    let Some(mut w) = World::new().await else {
        return;
    };
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    let first = w.spawn_orchestrator().await;
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({ "order": 7 }), None)
        .await
        .expect("start");
    // Step 1 done, step 2's command sent (nobody serves payment yet): kill the orchestrator.
    w.wait_for(&o, id, |s| s.step == 1).await;
    first.abort();
    let _ = first.await;
    assert_eq!(w.log(), ["do reserve-kitchen"]);
    // A new orchestrator process (fresh instance, same durable consumer) and the other services.
    w.spawn_participant("payment", success).await;
    w.spawn_participant("delivery", success).await;
    let second = w.spawn_orchestrator().await;
    w.tasks.push(second);
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    assert_eq!(state.status, SagaStatus::Completed, "{state:?}");
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier"
        ],
        "every step ran exactly once"
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_command_times_out_and_the_retry_completes_the_step() {
    let Some(mut w) = World::new().await else {
        return;
    };
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    w.spawn_participant("payment", |c| (c.attempt > 1).then_some(Outcome::Success))
        .await;
    w.spawn_participant("delivery", success).await;
    let orchestrator = w.spawn_orchestrator().await;
    w.tasks.push(orchestrator);
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({}), None)
        .await
        .expect("start");
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    assert_eq!(state.status, SagaStatus::Completed, "{state:?}");
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier"
        ]
    );
    w.finish().await;
}

/// The orchestrator runs as a real process (`mspack-saga-orchestrator`) and is killed with
/// SIGKILL between steps; a second process resumes from the stored state and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_process_killed_with_sigkill_between_steps_resumes_and_finishes() {
    let Some(mut w) = World::new().await else {
        return;
    };
    let relay = w.spawn_relay().await;
    w.tasks.push(relay);
    w.spawn_participant("kitchen", success).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let definitions = dir.path().join("sagas.json");
    let steps: Vec<serde_json::Value> = w
        .definition()
        .steps
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "action_subject": s.action_subject,
                "compensation_subject": s.compensation_subject,
                "timeout_ms": s.timeout.as_millis() as u64,
                "max_attempts": s.max_attempts,
            })
        })
        .collect();
    std::fs::write(
        &definitions,
        json!([{ "name": "place-order", "steps": steps }]).to_string(),
    )
    .expect("write definitions");
    let (stream, replies, prefix) = (
        w.stream.clone(),
        w.subject("saga.replies"),
        w.prefix.clone(),
    );
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_mspack-saga-orchestrator"))
            .arg("--definitions")
            .arg(&definitions)
            .args(["--stream", &stream, "--reply-subject", &replies])
            .args([
                "--consumer",
                "orchestrator",
                "--prefix",
                prefix.as_str(),
                "--tick-ms",
                "50",
            ])
            .env("DATABASE_URL", database_url_from_env())
            .env("NATS_URL", nats_url_from_env())
            .kill_on_drop(true)
            .spawn()
            .expect("start mspack-saga-orchestrator")
    };
    let mut first = spawn();
    let o = w.orchestrator().await;
    let id = Uuid::new_v4();
    o.start("place-order", id, json!({ "order": 9 }), None)
        .await
        .expect("start");
    w.wait_for(&o, id, |s| s.step == 1).await;
    first.start_kill().expect("kill -9");
    let status = first.wait().await.expect("wait");
    assert!(!status.success(), "killed, not finished: {status}");
    assert_eq!(w.log(), ["do reserve-kitchen"]);

    w.spawn_participant("payment", success).await;
    w.spawn_participant("delivery", success).await;
    let mut second = spawn();
    let state = w.wait_for(&o, id, |s| s.status.is_finished()).await;
    second.start_kill().expect("stop");
    let _ = second.wait().await;
    assert_eq!(state.status, SagaStatus::Completed, "{state:?}");
    assert_eq!(
        w.log(),
        [
            "do reserve-kitchen",
            "do charge-payment",
            "do assign-courier"
        ],
        "every step ran exactly once"
    );
    w.finish().await;
}
