//! The relay: publishes outbox rows to NATS JetStream, in order per ordering key, with any
//! number of relays, through database and broker failures.
//!
//! - **Order.** Rows are split into [`mspack_eventstore::OUTBOX_PARTITIONS`] partitions by a hash
//!   of their ordering key (an event's stream id); each relay leases a share of the partitions, so
//!   one key is published by one relay at a time, oldest row first. A row that fails blocks the
//!   later rows of its key (only its key) until it is sent or dead-lettered.
//! - **Poison rows.** A row that can never be published (a malformed header or subject, a
//!   payload over the server's `max_payload`) is dead-lettered at once; a row the broker keeps
//!   refusing is dead-lettered after [`RelayConfig::max_attempts`]. Dead letters keep their last
//!   error, are counted in a metric, can be listed and redriven; the other rows go on.
//! - **Broker and database failures** (a restart, a terminated backend, a missing stream) do not
//!   count as attempts: the relay backs off, reports itself degraded ([`Relay::health`]) and
//!   goes on; [`Relay::run`] returns only on shutdown.
//! - **Durability.** Sent rows move to an archive kept for [`RelayConfig::retain_sent`] (10
//!   minutes by default, well above a default nats-server's 2-minute flush interval), so
//!   [`Relay::redrive_sent_since`] can republish what a broker lost.

mod lease;
mod metrics;
mod publish;
mod statements;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_nats::jetstream;
use mspack_eventstore::sql::{Arg, Backend, Database};
use mspack_eventstore::{OutboxMessage, TablePrefix, enqueue_in, migrate_store};
use sqlx::postgres::PgListener;

use crate::error::OutboxError;
use crate::health::{Backoff, Health};
use crate::nats::StreamSpec;
use metrics::RelayMetrics;
use publish::{PendingRow, RowOutcome};
use statements::Statements;

/// How a relay batches, waits, retries and keeps what it sent.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows published per pass (default 256).
    pub batch_size: usize,
    /// How often to look for rows without a wake-up: the SQLite poll interval, and on
    /// PostgreSQL a safety net behind LISTEN/NOTIFY (default 10 ms on SQLite, 1 s on PostgreSQL).
    pub poll_interval: Option<Duration>,
    /// Delay before the first retry of a failed row; doubles per attempt (default 100 ms).
    pub initial_backoff: Duration,
    /// Upper bound of a row's retry delay, and of the relay's own backoff (default 30 s).
    pub max_backoff: Duration,
    /// Attempts the broker may refuse a row before it is dead-lettered (default 10). Broker
    /// outages and missing streams do not count.
    pub max_attempts: u32,
    /// How long sent rows stay in the archive for [`Relay::redrive_sent_since`] (default 10
    /// minutes; zero deletes them at once).
    pub retain_sent: Duration,
    /// This relay's name in the partition leases (default a fresh UUID). A relay restarted under
    /// the same name takes its partitions back at once instead of waiting for its leases to
    /// expire.
    pub name: Option<String>,
    /// How long a partition lease lasts without renewal (default 5 s): how long a crashed
    /// relay's partitions wait before another relay takes them.
    pub lease_ttl: Duration,
    /// Streams to create (or check) at start and again when a publish finds no stream for its
    /// subject (a broker that lost its data).
    pub streams: Vec<StreamSpec>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 256,
            poll_interval: None,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_attempts: 10,
            retain_sent: Duration::from_secs(600),
            name: None,
            lease_ttl: Duration::from_secs(5),
            streams: Vec::new(),
        }
    }
}

impl RelayConfig {
    /// The retry delay of a row after `attempts` failed attempts.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Rows acknowledged by JetStream and marked sent.
    pub published: usize,
    /// Rows JetStream acknowledged as duplicates (already published before a crash).
    pub duplicates: usize,
    /// Rows that failed and wait for a retry.
    pub failed: usize,
    /// Rows moved to the dead letters in this pass.
    pub dead_lettered: usize,
}

impl BatchReport {
    fn is_empty(&self) -> bool {
        *self == BatchReport::default()
    }
}

/// A row parked after it could not be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Outbox row id (pass it to [`Relay::redrive_dead`]).
    pub id: i64,
    /// The message id (`Nats-Msg-Id`).
    pub message_id: String,
    /// The subject.
    pub subject: String,
    /// The ordering key.
    pub ordering_key: String,
    /// Attempts made.
    pub attempts: i64,
    /// Why it was parked.
    pub last_error: Option<String>,
    /// When (microseconds since the Unix epoch).
    pub dead_at_us: i64,
    /// Payload size in bytes.
    pub payload_bytes: i64,
}

/// Fault injection for crash tests (feature `fault-injection`): not part of the stable API.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    /// Wait this long after JetStream acknowledged a batch and before marking its rows sent.
    pub hold_before_mark: Duration,
}

#[derive(Debug)]
struct State {
    partitions: Vec<i64>,
    renewed_at: Option<Instant>,
    streams_seen: HashMap<String, Instant>,
    last_purge: Instant,
    last_analyze: Option<Instant>,
}

/// Publishes the outbox of one event store (table prefix) to JetStream. See the module docs for
/// what it guarantees; several relays may run on one outbox (on either backend).
#[derive(Debug, Clone)]
pub struct Relay {
    db: Database,
    prefix: TablePrefix,
    js: jetstream::Context,
    config: RelayConfig,
    owner: String,
    sql: Arc<Statements>,
    health: Health,
    metrics: Arc<RelayMetrics>,
    state: Arc<Mutex<State>>,
    wake: Arc<tokio::sync::Notify>,
    #[cfg(feature = "fault-injection")]
    faults: FaultInjection,
}

impl Relay {
    /// A relay for the outbox under `prefix` in `db` (creating the tables if needed).
    pub async fn new(
        db: Database,
        prefix: TablePrefix,
        js: jetstream::Context,
        config: RelayConfig,
    ) -> Result<Self, OutboxError> {
        migrate_store(&db, &prefix).await?;
        let owner = config
            .name
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Ok(Relay {
            sql: Arc::new(Statements::new(&prefix)),
            metrics: Arc::new(RelayMetrics::new(prefix.as_str())),
            health: Health::new("outbox-relay"),
            wake: Arc::new(tokio::sync::Notify::new()),
            state: Arc::new(Mutex::new(State {
                partitions: Vec::new(),
                renewed_at: None,
                streams_seen: HashMap::new(),
                last_purge: Instant::now(),
                last_analyze: None,
            })),
            db,
            prefix,
            js,
            config,
            owner,
            #[cfg(feature = "fault-injection")]
            faults: FaultInjection::default(),
        })
    }

    /// Injects faults (crash tests only).
    #[cfg(feature = "fault-injection")]
    pub fn inject_faults(mut self, faults: FaultInjection) -> Self {
        self.faults = faults;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A handle that wakes [`Relay::run`] at once (call `notify_one()` after committing outbox
    /// rows in the same process): on SQLite, which has no LISTEN/NOTIFY, it saves up to a poll
    /// interval per message.
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// This relay's health, for a `/readyz` handler.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// This relay's name in the partition leases.
    pub fn name(&self) -> &str {
        &self.owner
    }

    /// The partitions this relay currently holds.
    pub fn partitions(&self) -> Vec<i64> {
        self.state().partitions.clone()
    }

    /// Publishes up to one batch of due rows of this relay's partitions and records the outcome
    /// of each (renewing or rebalancing the leases first when due).
    pub async fn publish_pending(&self) -> Result<BatchReport, OutboxError> {
        let started = Instant::now();
        self.maintain_leases(2).await?;
        let partitions = self.partitions();
        if partitions.is_empty() {
            return Ok(BatchReport::default());
        }
        let list = serde_json::to_string(&partitions).unwrap_or_else(|_| "[]".to_owned());
        let all = partitions.len() == mspack_eventstore::OUTBOX_PARTITIONS as usize;
        let limit = i64::try_from(self.config.batch_size).unwrap_or(i64::MAX);
        let rows = if all {
            // `$1` unused: the numbering stays that of the filtered query.
            self.db
                .fetch_all(&self.sql.select_all, &[Arg::Text(None), limit.into()])
                .await
        } else {
            self.db
                .fetch_all(&self.sql.select_some, &[list.as_str().into(), limit.into()])
                .await
        }
        .map_err(OutboxError::database("reading the outbox"))?;
        let rows = rows
            .iter()
            .map(PendingRow::decode)
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(BatchReport::default());
        }
        self.refresh_statistics_if_slow(started.elapsed()).await;
        let _span = mspack_eventstore::client_span(
            "mspack.outbox.relay.batch",
            vec![
                opentelemetry::KeyValue::new("messaging.system", "nats"),
                opentelemetry::KeyValue::new("messaging.batch.message_count", rows.len() as i64),
                opentelemetry::KeyValue::new("mspack.outbox", self.prefix.as_str().to_owned()),
            ],
        );
        let outcomes = self.publish(&rows).await;
        #[cfg(feature = "fault-injection")]
        if !self.faults.hold_before_mark.is_zero() {
            tokio::time::sleep(self.faults.hold_before_mark).await;
        }
        let report = self.record(&rows, &outcomes).await?;
        self.metrics.batch(started, &report);
        Ok(report)
    }

    /// Records what happened to each row in one transaction (one statement on PostgreSQL when
    /// every row went out and none was holding back its key).
    async fn record(
        &self,
        rows: &[PendingRow],
        outcomes: &[RowOutcome],
    ) -> Result<BatchReport, OutboxError> {
        let op = "recording published outbox rows";
        let plain = rows.iter().zip(outcomes).all(|(row, outcome)| {
            !row.blocked_head && matches!(outcome, RowOutcome::Sent { .. } | RowOutcome::Skipped)
        });
        if plain && !self.config.retain_sent.is_zero() && self.db.backend() == Backend::Postgres {
            let mut report = BatchReport::default();
            let mut sent = Vec::new();
            for (row, outcome) in rows.iter().zip(outcomes) {
                if let RowOutcome::Sent { duplicate } = outcome {
                    report.published += 1;
                    report.duplicates += usize::from(*duplicate);
                    sent.push(row.id);
                    self.metrics.lag(row.created_us);
                }
            }
            let ids = serde_json::to_string(&sent).unwrap_or_else(|_| "[]".to_owned());
            self.db
                .execute(&self.sql.move_sent, &[ids.as_str().into()])
                .await
                .map_err(OutboxError::database(op))?;
            return Ok(report);
        }
        let mut report = BatchReport::default();
        let mut sent = Vec::new();
        let mut tx = self.db.begin().await.map_err(OutboxError::database(op))?;
        for (row, outcome) in rows.iter().zip(outcomes) {
            match outcome {
                RowOutcome::Skipped => {}
                RowOutcome::Sent { duplicate } => {
                    report.published += 1;
                    report.duplicates += usize::from(*duplicate);
                    sent.push(row.id);
                    self.metrics.lag(row.created_us);
                }
                RowOutcome::Dead(error) => {
                    report.dead_lettered += 1;
                    self.dead_letter(&mut tx, row, error).await?;
                }
                RowOutcome::Retry(error) | RowOutcome::Wait(error) => {
                    report.failed += 1;
                    let counts = matches!(outcome, RowOutcome::Retry(_));
                    let attempts = row.attempts + i64::from(counts);
                    if counts && attempts >= i64::from(self.config.max_attempts) {
                        report.failed -= 1;
                        report.dead_lettered += 1;
                        self.dead_letter(&mut tx, row, error).await?;
                        continue;
                    }
                    tx.execute(
                        &self.sql.fail,
                        &[
                            row.id.into(),
                            i64::from(counts).into(),
                            error.as_str().into(),
                        ],
                    )
                    .await
                    .map_err(OutboxError::database(op))?;
                    let delay = self
                        .config
                        .backoff(u32::try_from(attempts.max(1)).unwrap_or(u32::MAX));
                    let delay_us = i64::try_from(delay.as_micros()).unwrap_or(i64::MAX);
                    tx.execute(
                        &self.sql.block,
                        &[row.key.as_str().into(), row.id.into(), delay_us.into()],
                    )
                    .await
                    .map_err(OutboxError::database(op))?;
                    self.metrics.failed(&row.subject);
                }
            }
        }
        if !sent.is_empty() {
            let ids = serde_json::to_string(&sent).unwrap_or_else(|_| "[]".to_owned());
            let args = [Arg::from(ids.as_str())];
            if !self.config.retain_sent.is_zero() {
                tx.execute(&self.sql.archive, &args)
                    .await
                    .map_err(OutboxError::database(op))?;
            }
            tx.execute(&self.sql.delete_sent, &args)
                .await
                .map_err(OutboxError::database(op))?;
            tx.execute(&self.sql.unblock, &args)
                .await
                .map_err(OutboxError::database(op))?;
        }
        tx.commit().await.map_err(OutboxError::database(op))?;
        Ok(report)
    }

    /// Parks `row` as a dead letter with `error`, and lets the later rows of its key go on.
    async fn dead_letter(
        &self,
        tx: &mut mspack_eventstore::Tx,
        row: &PendingRow,
        error: &str,
    ) -> Result<(), OutboxError> {
        let op = "dead-lettering an outbox row";
        tx.execute(&self.sql.dead, &[row.id.into(), error.into()])
            .await
            .map_err(OutboxError::database(op))?;
        let ids = format!("[{}]", row.id);
        tx.execute(&self.sql.unblock, &[ids.as_str().into()])
            .await
            .map_err(OutboxError::database(op))?;
        self.metrics.dead_letter(&row.subject);
        tracing_line(&format!(
            "outbox row {} ({}) dead-lettered after {} attempts: {error}",
            row.id,
            row.subject,
            row.attempts + 1
        ));
        Ok(())
    }

    /// A queue table's statistics go stale fast (a backlog of 50,000 rows written in seconds
    /// still looks empty to the planner, which then sorts the whole backlog for every batch
    /// instead of walking the index). When a batch query is slow, refresh them, at most once a
    /// minute.
    async fn refresh_statistics_if_slow(&self, took: Duration) {
        if took < Duration::from_millis(20) {
            return;
        }
        let due = {
            let mut state = self.state();
            let due = state
                .last_analyze
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(60));
            if due {
                state.last_analyze = Some(Instant::now());
            }
            due
        };
        if due {
            tracing::info!(target: "mspack_outbox", took_ms = took.as_millis() as u64, "slow outbox query: refreshing the table's statistics");
            let _ = self.db.execute(&self.sql.analyze, &[]).await;
        }
    }

    async fn maybe_purge(&self) -> Result<(), OutboxError> {
        let due = {
            let mut state = self.state();
            let due = state.last_purge.elapsed() >= Duration::from_secs(30);
            if due {
                state.last_purge = Instant::now();
            }
            due
        };
        if due {
            self.purge_sent(self.config.retain_sent).await?;
        }
        Ok(())
    }

    /// Runs until `shutdown` completes: publishes whatever is due, then sleeps until a NOTIFY
    /// (PostgreSQL), the poll interval, or the next retry. Database and broker failures are
    /// retried with backoff (and reported by [`Relay::health`]); the relay stops only on
    /// shutdown, releasing its partitions for the other relays. `on_batch` sees every non-empty
    /// pass.
    pub async fn run<F>(&self, shutdown: impl Future<Output = ()>, mut on_batch: F)
    where
        F: FnMut(&BatchReport),
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let poll = self.config.poll_interval.unwrap_or(match self.db {
            Database::Postgres(_) => Duration::from_secs(1),
            Database::Sqlite(_) => Duration::from_millis(10),
        });
        let mut listener: Option<PgListener> = None;
        let mut backoff = Backoff::new(Duration::from_millis(100), self.config.max_backoff);
        let mut streams_ready = self.config.streams.is_empty();
        loop {
            if !streams_ready {
                streams_ready = self.ensure_streams().await.is_ok();
            }
            if listener.is_none()
                && let Database::Postgres(pool) = &self.db
            {
                listener = self.listen(pool).await.ok();
            }
            let outcome = self.publish_pending().await;
            let wait = match outcome {
                Ok(report) => {
                    backoff.reset();
                    if report.failed > 0 && report.published == 0 {
                        self.health.degraded(format!(
                            "{} rows failed to publish (see the outbox's last_error)",
                            report.failed
                        ));
                    } else {
                        self.health.healthy();
                    }
                    if !report.is_empty() {
                        on_batch(&report);
                    }
                    if report.published + report.failed + report.dead_lettered
                        >= self.config.batch_size
                    {
                        continue; // more may be waiting
                    }
                    // Housekeeping while idle, off the publishing path.
                    let chores = async {
                        self.maintain_leases(1).await?;
                        self.maybe_purge().await
                    };
                    if let Err(e) = chores.await {
                        self.health.degraded(e.to_string());
                    }
                    if report.failed > 0 {
                        poll.min(self.config.initial_backoff)
                    } else {
                        poll
                    }
                }
                Err(e) => {
                    self.health.degraded(e.to_string());
                    tracing_line(&format!("outbox relay: {e}; retrying"));
                    if matches!(e, OutboxError::Database { .. } | OutboxError::Store(_)) {
                        listener = None;
                    }
                    backoff.next_delay()
                }
            };
            let notified = async {
                match listener.as_mut() {
                    Some(l) => {
                        let got = l.recv().await;
                        while let Some(_more) = l.next_buffered() {}
                        got.is_ok()
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                ok = notified => {
                    if !ok {
                        listener = None;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.leave().await;
        self.health.stopped();
    }

    async fn listen(&self, pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
        let mut l = PgListener::connect_with(pool).await?;
        l.listen(&format!("{}outbox", self.prefix)).await?;
        Ok(l)
    }

    /// Creates or checks [`RelayConfig::streams`].
    pub async fn ensure_streams(&self) -> Result<(), OutboxError> {
        for spec in &self.config.streams {
            crate::nats::ensure(&self.js, spec).await?;
        }
        Ok(())
    }

    /// Rows not yet published (dead letters excluded).
    pub async fn pending(&self) -> Result<u64, OutboxError> {
        let row = self
            .db
            .fetch_one(&self.sql.pending, &[])
            .await
            .map_err(OutboxError::database("counting pending outbox rows"))?;
        Ok(row.u64(0, "pending rows")?)
    }

    /// How long the oldest pending row has waited (zero when none is pending): the relay lag.
    pub async fn lag(&self) -> Result<Duration, OutboxError> {
        let row = self
            .db
            .fetch_one(&self.sql.oldest_pending, &[])
            .await
            .map_err(OutboxError::database("measuring the outbox lag"))?;
        let oldest = row.opt_int(0, "oldest pending row")?;
        let now = row.int(1, "database clock")?;
        Ok(oldest.map_or(Duration::ZERO, |t| {
            Duration::from_micros(u64::try_from(now - t).unwrap_or(0))
        }))
    }

    /// Up to `limit` dead letters, oldest first.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, OutboxError> {
        let rows = self
            .db
            .fetch_all(
                &self.sql.dead_letters,
                &[i64::try_from(limit).unwrap_or(i64::MAX).into()],
            )
            .await
            .map_err(OutboxError::database("listing dead letters"))?;
        rows.iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.int(0, "outbox id")?,
                    message_id: r.text(1, "message id")?,
                    subject: r.text(2, "subject")?,
                    ordering_key: r.text(3, "ordering key")?,
                    attempts: r.int(4, "attempts")?,
                    last_error: r.opt_text(5, "last error")?,
                    dead_at_us: r.int(6, "dead at")?,
                    payload_bytes: r.int(7, "payload size")?,
                })
            })
            .collect()
    }

    /// Puts dead letters back in the queue (all of them with `None`), with their attempts reset;
    /// returns how many. A redriven row is published after the later rows of its key that went
    /// out meanwhile.
    pub async fn redrive_dead(&self, ids: Option<&[i64]>) -> Result<u64, OutboxError> {
        let op = "redriving dead letters";
        match ids {
            None => self.db.execute(&self.sql.redrive_dead_all, &[]).await,
            Some(ids) => {
                let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned());
                self.db
                    .execute(&self.sql.redrive_dead, &[list.as_str().into()])
                    .await
            }
        }
        .map_err(OutboxError::database(op))
    }

    /// Queues again every message sent at or after `since` that is still in the archive (see
    /// [`RelayConfig::retain_sent`]), in its original order and with its original message id:
    /// after a broker lost acknowledged messages (a power cut before its flush), this puts them
    /// back; copies the broker still has are dropped by its duplicate window, and consumers'
    /// inboxes skip the rest. Returns how many rows were queued.
    pub async fn redrive_sent_since(&self, since: SystemTime) -> Result<u64, OutboxError> {
        let op = "redriving sent messages";
        let since_us = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let (mut after, mut total) = (0i64, 0u64);
        loop {
            let rows = self
                .db
                .fetch_all(
                    &self.sql.sent_since,
                    &[since_us.into(), after.into(), 500i64.into()],
                )
                .await
                .map_err(OutboxError::database(op))?;
            let Some(last) = rows.last() else {
                return Ok(total);
            };
            after = last.int(0, "outbox id")?;
            let mut messages = Vec::with_capacity(rows.len());
            for row in &rows {
                let headers = match row.json(4, "headers")? {
                    serde_json::Value::Object(map) => map
                        .into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                        .collect(),
                    _ => Vec::new(),
                };
                messages.push(OutboxMessage {
                    message_id: row.uuid(1, "message id")?,
                    subject: row.text(2, "subject")?,
                    payload: row.bytes(3, "payload")?,
                    headers,
                    ordering_key: Some(row.text(5, "ordering key")?),
                });
            }
            let mut tx = self.db.begin().await.map_err(OutboxError::database(op))?;
            enqueue_in(&mut tx, &self.prefix, &messages).await?;
            tx.commit().await.map_err(OutboxError::database(op))?;
            total += messages.len() as u64;
        }
    }

    /// Deletes archived rows sent more than `age` ago; returns how many.
    pub async fn purge_sent(&self, age: Duration) -> Result<u64, OutboxError> {
        let age_us = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        self.db
            .execute(&self.sql.purge_sent, &[age_us.into()])
            .await
            .map_err(OutboxError::database("purging sent outbox rows"))
    }
}

/// What an operator must see (a dead letter, a failing pass), as a `tracing` warning.
fn tracing_line(line: &str) {
    tracing::warn!(target: "mspack_outbox", "{line}");
}
