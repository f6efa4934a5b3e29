//! The orchestrator: stores each saga instance, sends its commands through the outbox in the
//! same transaction as each state change, applies replies, and retries or compensates on
//! timeout. All of its state is in the database, so a new orchestrator resumes where a crashed
//! one stopped.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use mspack_eventstore::{Database, Migration, OutboxMessage, TablePrefix, migrate, migrate_store};
use mspack_outbox::{enqueue_postgres, enqueue_sqlite};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Postgres, Row, Sqlite, Transaction};
use uuid::Uuid;

use crate::definition::SagaDefinition;
use crate::error::SagaError;
use crate::message::{CommandKind, Reply};
use crate::state::{Input, SagaState, SagaStatus, decide};

const COMPONENT: &str = "saga";

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "saga instances",
    sqlite: "CREATE TABLE {p}sagas (
        id TEXT PRIMARY KEY,
        saga_type TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL,
        step INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        deadline_ms INTEGER,
        traceparent TEXT,
        last_error TEXT,
        version INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL);
        CREATE INDEX {p}sagas_due ON {p}sagas (deadline_ms) WHERE deadline_ms IS NOT NULL;",
    postgres: "CREATE TABLE {p}sagas (
        id TEXT PRIMARY KEY,
        saga_type TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL,
        step BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        deadline_ms BIGINT,
        traceparent TEXT,
        last_error TEXT,
        version BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL);
        CREATE INDEX {p}sagas_due ON {p}sagas (deadline_ms) WHERE deadline_ms IS NOT NULL;",
}];

const SELECT: &str = "SELECT id, saga_type, data, status, step, attempt, deadline_ms, traceparent, \
    last_error, version FROM {p}sagas WHERE id = $1";
const INSERT: &str = "INSERT INTO {p}sagas (id, saga_type, data, status, step, attempt, deadline_ms, \
    traceparent, last_error, version, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10) \
    ON CONFLICT (id) DO NOTHING";
const UPDATE: &str = "UPDATE {p}sagas SET status = $2, step = $3, attempt = $4, deadline_ms = $5, \
    last_error = $6, version = version + 1, updated_ms = $7 WHERE id = $1 AND version = $8";
const DUE: &str = "SELECT id FROM {p}sagas WHERE deadline_ms IS NOT NULL AND deadline_ms <= $1 \
    ORDER BY deadline_ms LIMIT 100";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A transaction on either backend, holding one saga row.
enum SagaTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs sagas of the registered definitions.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    db: Database,
    prefix: TablePrefix,
    reply_subject: String,
    definitions: Arc<HashMap<String, SagaDefinition>>,
}

impl Orchestrator {
    /// An orchestrator storing sagas in `db` under `prefix` and receiving replies on
    /// `reply_subject` (creates its tables and the outbox if needed).
    pub async fn new(
        db: Database,
        prefix: TablePrefix,
        reply_subject: impl Into<String>,
        definitions: impl IntoIterator<Item = SagaDefinition>,
    ) -> Result<Self, SagaError> {
        migrate_store(&db, &prefix).await?;
        migrate(&db, &prefix, COMPONENT, MIGRATIONS).await?;
        Ok(Orchestrator {
            db,
            prefix,
            reply_subject: reply_subject.into(),
            definitions: Arc::new(
                definitions
                    .into_iter()
                    .map(|d| (d.name.clone(), d))
                    .collect(),
            ),
        })
    }

    fn definition(&self, saga_type: &str) -> Result<&SagaDefinition, SagaError> {
        self.definitions
            .get(saga_type)
            .ok_or_else(|| SagaError::UnknownSagaType(saga_type.to_owned()))
    }

    /// Starts saga `saga_id` of `saga_type` with input `data`: stores it and enqueues the first
    /// step's command in one transaction. Starting the same id twice is
    /// [`SagaError::AlreadyStarted`].
    pub async fn start(
        &self,
        saga_type: &str,
        saga_id: Uuid,
        data: Value,
        traceparent: Option<String>,
    ) -> Result<(), SagaError> {
        let def = self.definition(saga_type)?;
        let first = def
            .steps
            .first()
            .ok_or_else(|| SagaError::NoSteps(saga_type.to_owned()))?;
        let now = now_ms();
        let state = SagaState {
            id: saga_id,
            saga_type: saga_type.to_owned(),
            status: SagaStatus::Running,
            step: 0,
            attempt: 1,
            data,
            traceparent,
            last_error: None,
            deadline_ms: Some(
                now.saturating_add(i64::try_from(first.timeout.as_millis()).unwrap_or(i64::MAX)),
            ),
            version: 1,
        };
        let command = crate::message::Command {
            saga_id,
            saga_type: saga_type.to_owned(),
            step: 0,
            step_name: first.name.clone(),
            kind: CommandKind::Action,
            attempt: 1,
            reply_to: self.reply_subject.clone(),
            data: state.data.clone(),
            traceparent: state.traceparent.clone(),
        };
        let message = command.to_outbox(&first.action_subject)?;
        let mut tx = self.begin().await?;
        if !self.insert(&mut tx, &state, now).await? {
            return Err(SagaError::AlreadyStarted(saga_id));
        }
        self.enqueue(&mut tx, &[message]).await?;
        self.commit(tx).await
    }

    /// Applies a participant's reply; returns whether it changed the saga (false for a
    /// duplicate, a stale attempt, or an unknown saga).
    pub async fn on_reply(&self, reply: &Reply) -> Result<bool, SagaError> {
        self.apply(reply.saga_id, |def, state, now, reply_to| {
            decide(def, state, Input::Reply(reply), now, reply_to)
        })
        .await
    }

    /// Retries or gives up on every command whose timeout has passed; returns how many sagas
    /// moved.
    pub async fn tick(&self) -> Result<usize, SagaError> {
        let now = now_ms();
        let sql = AssertSqlSafe(self.prefix.render(DUE));
        let ids: Vec<String> = match &self.db {
            Database::Sqlite(pool) => sqlx::query_scalar(sql).bind(now).fetch_all(pool).await,
            Database::Postgres(pool) => sqlx::query_scalar(sql).bind(now).fetch_all(pool).await,
        }
        .map_err(SagaError::database("finding timed-out sagas"))?;
        let mut moved = 0;
        for id in ids {
            let id = Uuid::parse_str(&id).map_err(|e| SagaError::Corrupt {
                id: id.clone(),
                detail: e.to_string(),
            })?;
            let changed = self
                .apply(id, |def, state, now, reply_to| {
                    decide(def, state, Input::Timeout { now_ms: now }, now, reply_to)
                })
                .await?;
            moved += usize::from(changed);
        }
        Ok(moved)
    }

    /// The stored state of a saga.
    pub async fn state(&self, saga_id: Uuid) -> Result<Option<SagaState>, SagaError> {
        let sql = AssertSqlSafe(self.prefix.render(SELECT));
        let id = saga_id.to_string();
        match &self.db {
            Database::Sqlite(pool) => {
                let row = sqlx::query(sql)
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(SagaError::database("loading a saga"))?;
                row.map(|r| decode(&r)).transpose()
            }
            Database::Postgres(pool) => {
                let row = sqlx::query(sql)
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(SagaError::database("loading a saga"))?;
                row.map(|r| decode(&r)).transpose()
            }
        }
    }

    /// Loads the saga under a lock, decides, stores the new state and enqueues its command,
    /// all in one transaction.
    async fn apply<F>(&self, saga_id: Uuid, step: F) -> Result<bool, SagaError>
    where
        F: FnOnce(
            &SagaDefinition,
            &SagaState,
            i64,
            &str,
        ) -> Option<(SagaState, Option<crate::message::Command>)>,
    {
        let mut tx = self.begin().await?;
        let Some(state) = self.load(&mut tx, saga_id).await? else {
            return Ok(false);
        };
        let def = self.definition(&state.saga_type)?;
        let now = now_ms();
        let Some((next, command)) = step(def, &state, now, &self.reply_subject) else {
            return Ok(false);
        };
        if let Some(command) = &command {
            let step_def = def
                .steps
                .get(command.step)
                .ok_or_else(|| SagaError::Corrupt {
                    id: saga_id.to_string(),
                    detail: format!("step {} is not in the definition", command.step),
                })?;
            let subject = match command.kind {
                CommandKind::Action => Some(step_def.action_subject.as_str()),
                CommandKind::Compensation => step_def.compensation_subject.as_deref(),
            };
            if let Some(subject) = subject {
                let message = command.to_outbox(subject)?;
                self.enqueue(&mut tx, &[message]).await?;
            }
        }
        if !self.update(&mut tx, &next, state.version, now).await? {
            return Err(SagaError::Corrupt {
                id: saga_id.to_string(),
                detail: "version changed under a row lock".to_owned(),
            });
        }
        self.commit(tx).await?;
        Ok(true)
    }

    async fn begin(&self) -> Result<SagaTx, SagaError> {
        let op = "starting a saga transaction";
        Ok(match &self.db {
            Database::Sqlite(pool) => SagaTx::Sqlite(
                pool.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(SagaError::database(op))?,
            ),
            Database::Postgres(pool) => {
                SagaTx::Postgres(pool.begin().await.map_err(SagaError::database(op))?)
            }
        })
    }

    async fn commit(&self, tx: SagaTx) -> Result<(), SagaError> {
        let op = "committing a saga transaction";
        match tx {
            SagaTx::Sqlite(tx) => tx.commit().await,
            SagaTx::Postgres(tx) => tx.commit().await,
        }
        .map_err(SagaError::database(op))
    }

    async fn load(&self, tx: &mut SagaTx, saga_id: Uuid) -> Result<Option<SagaState>, SagaError> {
        let op = "loading a saga";
        let id = saga_id.to_string();
        match tx {
            SagaTx::Sqlite(tx) => {
                let row = sqlx::query(AssertSqlSafe(self.prefix.render(SELECT)))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(SagaError::database(op))?;
                row.map(|r| decode(&r)).transpose()
            }
            SagaTx::Postgres(tx) => {
                let row = sqlx::query(AssertSqlSafe(
                    self.prefix.render(&format!("{SELECT} FOR UPDATE")),
                ))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(SagaError::database(op))?;
                row.map(|r| decode(&r)).transpose()
            }
        }
    }

    async fn insert(&self, tx: &mut SagaTx, s: &SagaState, now: i64) -> Result<bool, SagaError> {
        let op = "storing a new saga";
        let sql = AssertSqlSafe(self.prefix.render(INSERT));
        macro_rules! bind_insert {
            ($q:expr) => {
                $q.bind(s.id.to_string())
                    .bind(&s.saga_type)
                    .bind(s.data.to_string())
                    .bind(s.status.as_str())
                    .bind(0i64)
                    .bind(1i64)
                    .bind(s.deadline_ms)
                    .bind(s.traceparent.as_deref())
                    .bind(s.last_error.as_deref())
                    .bind(now)
            };
        }
        let done = match tx {
            SagaTx::Sqlite(tx) => bind_insert!(sqlx::query(sql))
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            SagaTx::Postgres(tx) => bind_insert!(sqlx::query(sql))
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(SagaError::database(op))?;
        Ok(done == 1)
    }

    async fn update(
        &self,
        tx: &mut SagaTx,
        s: &SagaState,
        version: i64,
        now: i64,
    ) -> Result<bool, SagaError> {
        let op = "storing a saga's new state";
        let sql = AssertSqlSafe(self.prefix.render(UPDATE));
        let step = i64::try_from(s.step).unwrap_or(i64::MAX);
        let attempt = i64::from(s.attempt);
        macro_rules! bind_update {
            ($q:expr) => {
                $q.bind(s.id.to_string())
                    .bind(s.status.as_str())
                    .bind(step)
                    .bind(attempt)
                    .bind(s.deadline_ms)
                    .bind(s.last_error.as_deref())
                    .bind(now)
                    .bind(version)
            };
        }
        let done = match tx {
            SagaTx::Sqlite(tx) => bind_update!(sqlx::query(sql))
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            SagaTx::Postgres(tx) => bind_update!(sqlx::query(sql))
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(SagaError::database(op))?;
        Ok(done == 1)
    }

    async fn enqueue(&self, tx: &mut SagaTx, messages: &[OutboxMessage]) -> Result<(), SagaError> {
        match tx {
            SagaTx::Sqlite(tx) => enqueue_sqlite(tx, &self.prefix, messages).await?,
            SagaTx::Postgres(tx) => enqueue_postgres(tx, &self.prefix, messages).await?,
        }
        Ok(())
    }

    /// Consumes replies from the durable JetStream consumer `consumer_name` on `stream` and
    /// checks timeouts every `tick_every`, until `shutdown` completes. A reply is acked after
    /// its transaction commits, so a crash redelivers it and the state machine ignores the copy.
    pub async fn run(
        &self,
        js: &jetstream::Context,
        stream: &str,
        consumer_name: &str,
        tick_every: Duration,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SagaError> {
        let stream = js
            .get_stream(stream)
            .await
            .map_err(SagaError::nats("finding the reply stream"))?;
        let consumer = stream
            .get_or_create_consumer(
                consumer_name,
                pull::Config {
                    durable_name: Some(consumer_name.to_owned()),
                    filter_subject: self.reply_subject.clone(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(10),
                    ..Default::default()
                },
            )
            .await
            .map_err(SagaError::nats("creating the reply consumer"))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(SagaError::nats("consuming replies"))?;
        let mut ticker = tokio::time::interval(tick_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        self.tick().await?; // resume: commands that timed out while nobody was running
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                _ = ticker.tick() => { self.tick().await?; }
                next = messages.next() => {
                    let Some(next) = next else { return Ok(()) };
                    let message = next.map_err(SagaError::nats("receiving a reply"))?;
                    if let Ok(reply) = Reply::from_json(&message.payload) {
                        self.on_reply(&reply).await?;
                    }
                    // A malformed reply can never succeed: ack it so it is not redelivered forever.
                    message.ack().await.map_err(SagaError::nats("acking a reply"))?;
                }
            }
        }
    }
}

fn decode<R: Row>(row: &R) -> Result<SagaState, SagaError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let op = "decoding a saga row";
    let id: String = row.try_get("id").map_err(SagaError::database(op))?;
    let corrupt = |detail: String| SagaError::Corrupt {
        id: id.clone(),
        detail,
    };
    let status: String = row.try_get("status").map_err(SagaError::database(op))?;
    let data: String = row.try_get("data").map_err(SagaError::database(op))?;
    let step: i64 = row.try_get("step").map_err(SagaError::database(op))?;
    let attempt: i64 = row.try_get("attempt").map_err(SagaError::database(op))?;
    Ok(SagaState {
        id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        saga_type: row.try_get("saga_type").map_err(SagaError::database(op))?,
        status: SagaStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status:?}")))?,
        step: usize::try_from(step).map_err(|e| corrupt(e.to_string()))?,
        attempt: u32::try_from(attempt).map_err(|e| corrupt(e.to_string()))?,
        data: serde_json::from_str(&data).map_err(|e| corrupt(e.to_string()))?,
        traceparent: row
            .try_get("traceparent")
            .map_err(SagaError::database(op))?,
        last_error: row.try_get("last_error").map_err(SagaError::database(op))?,
        deadline_ms: row
            .try_get("deadline_ms")
            .map_err(SagaError::database(op))?,
        version: row.try_get("version").map_err(SagaError::database(op))?,
    })
}
