//! The saga test world: a database (PostgreSQL, or an SQLite file), NATS JetStream, unique
//! names, a relay, orchestrators and participants as tasks. Missing servers skip the test,
//! except under CI=true, where they fail it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use mspack_eventstore::{Database, TablePrefix};
use mspack_outbox::{Relay, RelayConfig, connect_jetstream, ensure_stream};
use mspack_saga::{
    Command, CommandKind, Orchestrator, Outcome, Participant, SagaDefinition, SagaState, Step,
};
use mspack_testkit::nats_url;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub type Log = Arc<Mutex<Vec<String>>>;

pub struct World {
    pub db: Database,
    pub pool: Option<PgPool>,
    _dir: Option<tempfile::TempDir>,
    pub js: jetstream::Context,
    pub prefix: TablePrefix,
    pub base: String,
    pub stream: String,
    pub tasks: Vec<JoinHandle<()>>,
    pub log: Log,
}

impl World {
    /// A world on SQLite (a temporary file) and NATS.
    pub async fn sqlite() -> Option<World> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open_sqlite(dir.path().join("saga.db"))
            .await
            .expect("sqlite");
        Self::with_db(db, None, Some(dir)).await
    }

    /// A world on PostgreSQL and NATS.
    pub async fn new() -> Option<World> {
        let pool = mspack_testkit::postgres_pool().await?;
        Self::with_db(Database::Postgres(pool.clone()), Some(pool), None).await
    }

    async fn with_db(
        db: Database,
        pool: Option<PgPool>,
        dir: Option<tempfile::TempDir>,
    ) -> Option<World> {
        mspack_testkit::nats().await?;
        let js = connect_jetstream(&nats_url()).await.expect("jetstream");
        let mut world = Self::with_js(db, pool, js).await;
        world._dir = dir;
        Some(world)
    }

    /// A world on `db` and the broker behind `js`.
    pub async fn with_js(db: Database, pool: Option<PgPool>, js: jetstream::Context) -> World {
        let dir = None;
        let names = mspack_testkit::names();
        let world = World {
            db,
            pool,
            _dir: dir,
            js,
            prefix: names.prefix,
            base: names.subject,
            stream: names.stream,
            tasks: Vec::new(),
            log: Arc::default(),
        };
        ensure_stream(&world.js, &world.stream, vec![format!("{}.>", world.base)])
            .await
            .expect("stream");
        world
    }

    pub fn db(&self) -> Database {
        self.db.clone()
    }

    pub fn subject(&self, s: &str) -> String {
        format!("{}.{s}", self.base)
    }

    pub fn definition(&self) -> SagaDefinition {
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

    pub async fn orchestrator(&self) -> Orchestrator {
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
    pub async fn spawn_relay(&mut self) -> JoinHandle<()> {
        let relay = Relay::new(
            self.db(),
            self.prefix.clone(),
            self.js.clone(),
            RelayConfig::default(),
        )
        .await
        .expect("relay");
        tokio::spawn(async move {
            relay.run(std::future::pending(), |_| {}).await;
        })
    }

    /// Starts an orchestrator's reply loop and returns its task.
    pub async fn spawn_orchestrator(&self) -> JoinHandle<()> {
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
                .await;
        })
    }

    /// A participant serving `service.>` commands; `decide` picks each outcome, or `None` to
    /// drop the command on the floor (simulating a lost message).
    pub async fn spawn_participant<F>(&mut self, service: &str, decide: F)
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
            // A participant's loop: it reconnects after a broker restart (the consumer is
            // durable, so nothing is lost while it is away).
            loop {
                let Ok(mut messages) = consumer.messages().await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                while let Some(next) = messages.next().await {
                    let Ok(msg) = next else { break };
                    let command = Command::from_json(&msg.payload).expect("command");
                    if let Some(outcome) = decide(&command) {
                        let log = log.clone();
                        let processed = participant
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
                            .await;
                        if processed.is_err() {
                            continue; // redelivered after ack_wait
                        }
                    }
                    let _ = msg.ack().await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    pub async fn wait_for(
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

    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    pub async fn finish(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.js.delete_stream(&self.stream).await;
        if let Some(pool) = &self.pool {
            mspack_testkit::drop_prefix(pool, &self.prefix).await;
        }
    }
}

pub fn success(_: &Command) -> Option<Outcome> {
    Some(Outcome::success())
}
