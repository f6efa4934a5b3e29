//! The orchestrator: stores each saga instance, sends its commands through the outbox in the
//! same transaction as each state change, applies replies, and retries or compensates on
//! timeout. All of its state is in the database, so a new orchestrator resumes where a crashed
//! one stopped; it keeps running through database and broker failures; an instance whose
//! definition it doesn't know is parked, never allowed to stop the others.

mod store;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
use mspack_eventstore::sql::{Arg, Database, Tx};
use mspack_eventstore::{TablePrefix, enqueue_in, migrate, migrate_store};
use mspack_outbox::{Backoff, Health};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use serde_json::Value;
use uuid::Uuid;

use crate::definition::SagaDefinition;
use crate::error::SagaError;
use crate::message::{CommandKind, Reply};
use crate::state::{Input, SagaState, SagaStatus, command, decide};
use store::{COMPONENT, MIGRATIONS, Statements};

/// What a reply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyEffect {
    /// The saga moved (and its next command, if any, is in the outbox).
    Moved,
    /// A duplicate, stale or mismatched reply: nothing changed.
    Ignored,
    /// The saga is parked (its definition is not registered here): try again later, or on an
    /// orchestrator that knows it.
    Parked,
    /// No saga with this id.
    UnknownSaga,
}

#[derive(Debug)]
struct Registered {
    definition: SagaDefinition,
    fingerprint: String,
}

#[derive(Debug, Default)]
struct Registry {
    by_version: HashMap<(String, u32), Registered>,
    latest: HashMap<String, u32>,
}

impl Registry {
    fn new(definitions: impl IntoIterator<Item = SagaDefinition>) -> Result<Self, SagaError> {
        let mut registry = Registry::default();
        for definition in definitions {
            definition.validate()?;
            let key = (definition.name.clone(), definition.version);
            let fingerprint = definition.fingerprint();
            if let Some(existing) = registry.by_version.get(&key)
                && existing.fingerprint != fingerprint
            {
                return Err(SagaError::InvalidDefinition(format!(
                    "two different definitions of {} version {}",
                    key.0, key.1
                )));
            }
            let latest = registry.latest.entry(key.0.clone()).or_insert(key.1);
            *latest = (*latest).max(key.1);
            registry.by_version.insert(
                key,
                Registered {
                    definition,
                    fingerprint,
                },
            );
        }
        Ok(registry)
    }

    /// The definition a stored instance runs on, or why it can't run here.
    fn for_state(&self, s: &SagaState) -> Result<&SagaDefinition, String> {
        match self
            .by_version
            .get(&(s.saga_type.clone(), s.definition_version))
        {
            None => Err(format!(
                "definition {} version {} is not registered in this orchestrator",
                s.saga_type, s.definition_version
            )),
            Some(r) if !s.definition_hash.is_empty() && r.fingerprint != s.definition_hash => {
                Err(format!(
                    "definition {} version {} changed (fingerprint {} stored, {} registered) \
                     without a version bump",
                    s.saga_type, s.definition_version, s.definition_hash, r.fingerprint
                ))
            }
            Some(r) => Ok(&r.definition),
        }
    }
}

#[derive(Debug)]
struct Metrics {
    transitions: Counter<u64>,
    parked: Counter<u64>,
    ignored: Counter<u64>,
}

impl Metrics {
    fn new() -> Self {
        let meter = opentelemetry::global::meter(mspack_eventstore::METER);
        Metrics {
            transitions: meter
                .u64_counter("mspack.saga.transitions")
                .with_unit("{transition}")
                .with_description("Saga state changes, by type and from/to status")
                .build(),
            parked: meter
                .u64_counter("mspack.saga.parked")
                .with_unit("{saga}")
                .with_description("Sagas set aside because their definition is not registered")
                .build(),
            ignored: meter
                .u64_counter("mspack.saga.replies.ignored")
                .with_unit("{reply}")
                .with_description("Duplicate, stale or mismatched replies")
                .build(),
        }
    }
}

/// Runs sagas of the registered definitions.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    db: Database,
    prefix: TablePrefix,
    reply_subject: String,
    registry: Arc<Registry>,
    sql: Arc<Statements>,
    health: Health,
    metrics: Arc<Metrics>,
    finished_subject: Option<String>,
    wake: Option<Arc<tokio::sync::Notify>>,
}

/// What an orchestrator publishes (with [`Orchestrator::notify_finished`]) when a saga ends, in
/// the same transaction as the final state: the service that started it learns the outcome
/// through its inbox instead of polling.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SagaFinished {
    /// The saga.
    pub saga_id: Uuid,
    /// Its type.
    pub saga_type: String,
    /// `completed`, `compensated` or `failed`.
    pub status: String,
    /// Why it compensated or failed.
    pub last_error: Option<String>,
    /// Its input.
    pub data: Value,
    /// The outputs of its steps.
    pub outputs: std::collections::BTreeMap<String, Value>,
}

impl Orchestrator {
    /// An orchestrator storing sagas in `db` under `prefix` and receiving replies on
    /// `reply_subject` (creates its tables and the outbox if needed). Register every version of
    /// a definition that still has running instances; new sagas start on the highest version.
    /// Instances parked earlier whose definition is registered here are resumed.
    pub async fn new(
        db: Database,
        prefix: TablePrefix,
        reply_subject: impl Into<String>,
        definitions: impl IntoIterator<Item = SagaDefinition>,
    ) -> Result<Self, SagaError> {
        let registry = Registry::new(definitions)?;
        migrate_store(&db, &prefix).await?;
        migrate(&db, &prefix, COMPONENT, MIGRATIONS).await?;
        let sql = Statements::new(&prefix);
        for ((name, version), r) in &registry.by_version {
            db.execute(
                &sql.unpark,
                &[
                    name.as_str().into(),
                    i64::from(*version).into(),
                    r.fingerprint.as_str().into(),
                ],
            )
            .await
            .map_err(SagaError::database("resuming parked sagas"))?;
        }
        Ok(Orchestrator {
            db,
            prefix,
            reply_subject: reply_subject.into(),
            registry: Arc::new(registry),
            sql: Arc::new(sql),
            health: Health::new("saga-orchestrator"),
            metrics: Arc::new(Metrics::new()),
            finished_subject: None,
            wake: None,
        })
    }

    /// Notifies `wake` after every commit that wrote to the outbox (pass the waker of the relay of
    /// this database, [`mspack_outbox::Relay::waker`], when both run in one process: on SQLite,
    /// which has no LISTEN/NOTIFY, each command then leaves at once instead of at the next poll).
    pub fn wake_after_commit(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Publishes a [`SagaFinished`] message on `subject` (through the outbox, in the same
    /// transaction) whenever a saga completes, is compensated or fails.
    pub fn notify_finished(mut self, subject: impl Into<String>) -> Self {
        self.finished_subject = Some(subject.into());
        self
    }

    /// The orchestrator's health, for a `/readyz` handler.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Starts saga `saga_id` of `saga_type` (its highest registered version) with input `data`:
    /// stores it and enqueues the first step's command in one transaction. Starting the same id
    /// twice is [`SagaError::AlreadyStarted`].
    pub async fn start(
        &self,
        saga_type: &str,
        saga_id: Uuid,
        data: Value,
        traceparent: Option<String>,
    ) -> Result<(), SagaError> {
        let mut tx = self.begin().await?;
        self.start_in(&mut tx, saga_type, saga_id, data, traceparent)
            .await?;
        tx.commit()
            .await
            .map_err(SagaError::database("committing a saga start"))
    }

    /// Like [`Orchestrator::start`], inside `tx`: the saga starts if and only if `tx` commits
    /// (with the order that needs it, say), so there is no moment with one and not the other.
    /// `tx` must be on the orchestrator's database.
    pub async fn start_in(
        &self,
        tx: &mut Tx,
        saga_type: &str,
        saga_id: Uuid,
        data: Value,
        traceparent: Option<String>,
    ) -> Result<(), SagaError> {
        let version = *self
            .registry
            .latest
            .get(saga_type)
            .ok_or_else(|| SagaError::UnknownSagaType(saga_type.to_owned()))?;
        let registered = self
            .registry
            .by_version
            .get(&(saga_type.to_owned(), version))
            .ok_or_else(|| SagaError::UnknownSagaType(saga_type.to_owned()))?;
        let def = &registered.definition;
        let first = def
            .steps
            .first()
            .ok_or_else(|| SagaError::NoSteps(saga_type.to_owned()))?;
        let state = SagaState {
            id: saga_id,
            saga_type: saga_type.to_owned(),
            definition_version: version,
            definition_hash: registered.fingerprint.clone(),
            status: SagaStatus::Running,
            step: 0,
            attempt: 1,
            round: 0,
            data,
            traceparent,
            last_error: None,
            deadline_ms: None,
            outputs: Default::default(),
            parked: None,
            version: 1,
        };
        let message = command(def, &state, CommandKind::Action, &self.reply_subject)
            .to_outbox(&first.action_subject)?;
        let id = saga_id.to_string();
        let data = state.data.to_string();
        let timeout = i64::try_from(first.timeout.as_millis()).unwrap_or(i64::MAX);
        let inserted = tx
            .execute(
                &self.sql.insert,
                &[
                    Arg::from(id.as_str()),
                    saga_type.into(),
                    i64::from(version).into(),
                    registered.fingerprint.as_str().into(),
                    data.as_str().into(),
                    SagaStatus::Running.as_str().into(),
                    first.name.as_str().into(),
                    timeout.into(),
                    state.traceparent.as_deref().into(),
                ],
            )
            .await
            .map_err(SagaError::database("storing a new saga"))?;
        if inserted != 1 {
            return Err(SagaError::AlreadyStarted(saga_id));
        }
        enqueue_in(tx, &self.prefix, &[message]).await?;
        self.metrics.transitions.add(
            1,
            &[
                KeyValue::new("saga.type", saga_type.to_owned()),
                KeyValue::new("saga.status.from", "new"),
                KeyValue::new("saga.status.to", "running"),
            ],
        );
        Ok(())
    }

    /// Applies a participant's reply.
    pub async fn on_reply(&self, reply: &Reply) -> Result<ReplyEffect, SagaError> {
        let effect = self
            .apply(reply.saga_id, |def, state, now| {
                decide(def, state, Input::Reply(reply), now, &self.reply_subject)
            })
            .await?;
        if effect == ReplyEffect::Ignored {
            self.metrics.ignored.add(1, &[]);
        }
        Ok(effect)
    }

    /// Retries or gives up on every command whose timeout has passed (by the database's
    /// clock); returns how many sagas moved. A saga that can't be run here is parked and the
    /// others go on.
    pub async fn tick(&self) -> Result<usize, SagaError> {
        let rows = self
            .db
            .fetch_all(&self.sql.due, &[])
            .await
            .map_err(SagaError::database("finding timed-out sagas"))?;
        let mut moved = 0;
        for row in rows {
            let id = row.text(0, "saga id")?;
            let Ok(id) = Uuid::parse_str(&id) else {
                self.park(&id, "the saga id is not a UUID").await?;
                continue;
            };
            let outcome = self
                .apply(id, |def, state, now| {
                    decide(
                        def,
                        state,
                        Input::Timeout { now_ms: now },
                        now,
                        &self.reply_subject,
                    )
                })
                .await;
            match outcome {
                Ok(effect) => moved += usize::from(effect == ReplyEffect::Moved),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => self.park(&id.to_string(), &e.to_string()).await?,
            }
        }
        Ok(moved)
    }

    async fn park(&self, id: &str, reason: &str) -> Result<(), SagaError> {
        tracing::warn!(target: "mspack_saga", saga = id, reason, "saga parked");
        self.db
            .execute(&self.sql.park, &[id.into(), reason.into()])
            .await
            .map_err(SagaError::database("parking a saga"))?;
        self.metrics.parked.add(1, &[]);
        Ok(())
    }

    /// The stored state of a saga.
    pub async fn state(&self, saga_id: Uuid) -> Result<Option<SagaState>, SagaError> {
        let id = saga_id.to_string();
        let row = self
            .db
            .fetch_optional(&self.sql.state, &[id.as_str().into()])
            .await
            .map_err(SagaError::database("loading a saga"))?;
        row.map(|r| store::decode(&r).map(|l| l.state)).transpose()
    }

    /// Up to `limit` sagas in `status`, most recently changed first (e.g. the `Failed` ones,
    /// which need a person).
    pub async fn list(
        &self,
        status: SagaStatus,
        limit: usize,
    ) -> Result<Vec<SagaState>, SagaError> {
        let rows = self
            .db
            .fetch_all(
                &self.sql.list,
                &[
                    status.as_str().into(),
                    i64::try_from(limit).unwrap_or(i64::MAX).into(),
                ],
            )
            .await
            .map_err(SagaError::database("listing sagas"))?;
        Ok(decode_listed(&rows))
    }

    /// Up to `limit` parked sagas, with why.
    pub async fn parked(&self, limit: usize) -> Result<Vec<SagaState>, SagaError> {
        let rows = self
            .db
            .fetch_all(
                &self.sql.list_parked,
                &[i64::try_from(limit).unwrap_or(i64::MAX).into()],
            )
            .await
            .map_err(SagaError::database("listing parked sagas"))?;
        Ok(decode_listed(&rows))
    }

    /// Tries a `Failed` saga's compensation again (after a person fixed its cause): the saga
    /// goes back to compensating the step that failed, with fresh attempts, and carries on
    /// backwards from there.
    pub async fn retry(&self, saga_id: Uuid) -> Result<(), SagaError> {
        let effect = self
            .apply(saga_id, |def, s, now| {
                if s.status != SagaStatus::Failed {
                    return None;
                }
                let mut next = s.clone();
                next.status = SagaStatus::Compensating;
                next.attempt = 1;
                next.round += 1;
                next.deadline_ms = crate::state::deadline(def, next.step, now);
                let cmd = command(def, &next, CommandKind::Compensation, &self.reply_subject);
                Some((next, Some(cmd)))
            })
            .await?;
        match effect {
            ReplyEffect::Moved => Ok(()),
            ReplyEffect::UnknownSaga => Err(SagaError::Corrupt {
                id: saga_id.to_string(),
                detail: "no such saga".to_owned(),
            }),
            ReplyEffect::Parked => Err(SagaError::WrongStatus {
                id: saga_id,
                status: "parked",
                detail: "its definition is not registered here".to_owned(),
            }),
            ReplyEffect::Ignored => {
                let status = self
                    .state(saga_id)
                    .await?
                    .map_or("unknown", |s| s.status.as_str());
                Err(SagaError::WrongStatus {
                    id: saga_id,
                    status,
                    detail: "only a failed saga can be retried".to_owned(),
                })
            }
        }
    }

    /// Loads the saga under a lock, decides with the database's clock, stores the new state and
    /// enqueues its command, all in one transaction.
    async fn apply<F>(&self, saga_id: Uuid, step: F) -> Result<ReplyEffect, SagaError>
    where
        F: FnOnce(
            &SagaDefinition,
            &SagaState,
            i64,
        ) -> Option<(SagaState, Option<crate::message::Command>)>,
    {
        let _span = mspack_eventstore::client_span(
            "mspack.saga.transition",
            vec![KeyValue::new("mspack.saga.id", saga_id.to_string())],
        );
        let mut tx = self.begin().await?;
        let id = saga_id.to_string();
        let row = tx
            .fetch_optional(&self.sql.load, &[id.as_str().into()])
            .await
            .map_err(SagaError::database("loading a saga"))?;
        let Some(row) = row else {
            let _ = tx.rollback().await;
            return Ok(ReplyEffect::UnknownSaga);
        };
        let store::Loaded { state, now_ms } = match store::decode(&row) {
            Ok(loaded) => loaded,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        if state.parked.is_some() {
            let _ = tx.rollback().await;
            return Ok(ReplyEffect::Parked);
        }
        let def = match self.registry.for_state(&state) {
            Ok(def) => def,
            Err(reason) => {
                let _ = tx.rollback().await;
                self.park(&id, &reason).await?;
                return Ok(ReplyEffect::Parked);
            }
        };
        let Some((next, cmd)) = step(def, &state, now_ms) else {
            // Explicitly: on SQLite the write lock is then free at once for the next saga.
            let _ = tx.rollback().await;
            return Ok(ReplyEffect::Ignored);
        };
        if let Some(cmd) = &cmd {
            let step_def = def.steps.get(cmd.step).ok_or_else(|| SagaError::Corrupt {
                id: id.clone(),
                detail: format!("step {} is not in the definition", cmd.step),
            })?;
            let subject = match cmd.kind {
                CommandKind::Action => Some(step_def.action_subject.as_str()),
                CommandKind::Compensation => step_def.compensation_subject.as_deref(),
            };
            if let Some(subject) = subject {
                enqueue_in(&mut tx, &self.prefix, &[cmd.to_outbox(subject)?]).await?;
            }
        }
        if let Some(subject) = &self.finished_subject
            && next.status.is_finished()
            && next.status != state.status
        {
            let finished = SagaFinished {
                saga_id,
                saga_type: next.saga_type.clone(),
                status: next.status.as_str().to_owned(),
                last_error: next.last_error.clone(),
                data: next.data.clone(),
                outputs: next.outputs.clone(),
            };
            let payload =
                serde_json::to_vec(&finished).map_err(|e| SagaError::BadMessage(e.to_string()))?;
            let id = Uuid::new_v5(
                &saga_id,
                format!("finished:{}:{}", next.round, next.status.as_str()).as_bytes(),
            );
            let mut message = mspack_eventstore::OutboxMessage::new(subject.clone(), payload)
                .with_id(id)
                .with_header("Mspack-Correlation-Id", saga_id.to_string())
                .ordered_by(saga_id.to_string());
            if let Some(tp) = &next.traceparent {
                message = message.with_header("traceparent", tp.clone());
            }
            enqueue_in(&mut tx, &self.prefix, &[message]).await?;
        }
        let step_name = next.step_name(def).unwrap_or_default().to_owned();
        if !store::update(&self.sql, &mut tx, &next, &step_name, state.version).await? {
            return Err(SagaError::Corrupt {
                id,
                detail: "version changed under a row lock".to_owned(),
            });
        }
        tx.commit()
            .await
            .map_err(SagaError::database("committing a saga transaction"))?;
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
        if next.status != state.status {
            self.metrics.transitions.add(
                1,
                &[
                    KeyValue::new("saga.type", state.saga_type.clone()),
                    KeyValue::new("saga.status.from", state.status.as_str()),
                    KeyValue::new("saga.status.to", next.status.as_str()),
                ],
            );
        }
        Ok(ReplyEffect::Moved)
    }

    async fn begin(&self) -> Result<Tx, SagaError> {
        self.db
            .begin()
            .await
            .map_err(SagaError::database("starting a saga transaction"))
    }

    async fn subscribe(
        &self,
        js: &jetstream::Context,
        stream: &str,
        consumer_name: &str,
    ) -> Result<jetstream::consumer::pull::Stream, SagaError> {
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
        consumer
            .messages()
            .await
            .map_err(SagaError::nats("consuming replies"))
    }

    /// Consumes replies from the durable JetStream consumer `consumer_name` on `stream` and
    /// checks timeouts every `tick_every`, until `shutdown` completes. A reply is acked after
    /// its transaction commits, so a crash redelivers it and the state machine ignores the copy;
    /// a reply for a parked saga is handed back for later. Database and broker failures are
    /// retried with backoff (see [`Orchestrator::health`]); this returns only on shutdown.
    pub async fn run(
        &self,
        js: &jetstream::Context,
        stream: &str,
        consumer_name: &str,
        tick_every: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut ticker = tokio::time::interval(tick_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'connect: loop {
            let mut messages = match self.subscribe(js, stream, consumer_name).await {
                Ok(m) => m,
                Err(e) => {
                    self.degraded(&e);
                    tokio::select! {
                        () = &mut shutdown => break 'connect,
                        () = tokio::time::sleep(backoff.next_delay()) => continue 'connect,
                    }
                }
            };
            loop {
                tokio::select! {
                    () = &mut shutdown => break 'connect,
                    _ = ticker.tick() => match self.tick().await {
                        Ok(_) => {
                            backoff.reset();
                            self.health.healthy();
                        }
                        Err(e) => {
                            self.degraded(&e);
                            tokio::time::sleep(backoff.next_delay()).await;
                        }
                    },
                    next = messages.next() => {
                        let message = match next {
                            Some(Ok(m)) => m,
                            Some(Err(e)) => {
                                self.degraded(&SagaError::nats("receiving a reply")(e));
                                continue 'connect;
                            }
                            None => continue 'connect,
                        };
                        let ack = match Reply::from_json(&message.payload) {
                            // A malformed reply can never succeed: drop it.
                            Err(_) => AckKind::Term,
                            Ok(reply) => match self.on_reply(&reply).await {
                                Ok(ReplyEffect::Parked) => AckKind::Nak(Some(Duration::from_secs(5))),
                                Ok(_) => AckKind::Ack,
                                Err(e) => {
                                    self.degraded(&e);
                                    AckKind::Nak(Some(backoff.next_delay()))
                                }
                            },
                        };
                        if let Err(e) = message.ack_with(ack).await {
                            self.degraded(&SagaError::nats("acking a reply")(e));
                        }
                    }
                }
            }
        }
        self.health.stopped();
    }

    fn degraded(&self, e: &SagaError) {
        tracing::warn!(target: "mspack_saga", error = %e, "saga orchestrator degraded; retrying");
        self.health.degraded(e.to_string());
    }
}

/// The sagas of a listing that decode; a malformed row is logged and left out, not allowed to
/// hide the others.
fn decode_listed(rows: &[mspack_eventstore::sql::SqlRow]) -> Vec<SagaState> {
    rows.iter()
        .filter_map(|r| match store::decode(r) {
            Ok(l) => Some(l.state),
            Err(e) => {
                tracing::warn!(target: "mspack_saga", error = %e, "unreadable saga row");
                None
            }
        })
        .collect()
}
