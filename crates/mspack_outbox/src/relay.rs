//! The relay: publishes pending outbox rows to NATS JetStream, marks them sent (deletes them, or
//! stamps `sent_at` with [`RelayConfig::retain_sent`]), retries failures with exponential
//! backoff, and wakes on PostgreSQL NOTIFY (or polls SQLite).

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use futures_util::future::join_all;
use mspack_eventstore::{Database, TablePrefix, migrate_store};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, Row};

use crate::enqueue::unix_micros;
use crate::error::OutboxError;

/// How a relay batches, waits and backs off.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows published per round trip (default 256).
    pub batch_size: usize,
    /// How often to look for rows without a wake-up: the SQLite poll interval, and on
    /// PostgreSQL a safety net behind LISTEN/NOTIFY (default 10 ms on SQLite, 1 s on PostgreSQL).
    pub poll_interval: Option<Duration>,
    /// Delay before the first retry of a failed publish; doubles per attempt (default 100 ms).
    pub initial_backoff: Duration,
    /// Upper bound of the retry delay (default 30 s).
    pub max_backoff: Duration,
    /// Keep published rows, with `sent_at` set, until [`Relay::purge_sent`] (an audit trail),
    /// instead of deleting them once JetStream has acknowledged them (default false: delete,
    /// like Debezium's outbox; keeping them costs a new row version per message, which on a
    /// busy disk made the relay several times slower).
    pub retain_sent: bool,
    /// Fault injection for crash tests: wait this long after JetStream acknowledged a batch and
    /// before marking its rows sent, widening the window in which a crash leaves published rows
    /// unmarked (default zero: no wait).
    pub hold_before_mark: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 256,
            poll_interval: None,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            retain_sent: false,
            hold_before_mark: Duration::ZERO,
        }
    }
}

impl RelayConfig {
    /// The retry delay after `attempts` failed attempts.
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
    /// Rows that failed and were rescheduled.
    pub failed: usize,
}

#[derive(Debug)]
struct PendingRow {
    id: i64,
    message_id: String,
    subject: String,
    payload: Vec<u8>,
    headers: serde_json::Value,
    attempts: i32,
}

/// Publishes the outbox of one event store (table prefix) to JetStream.
///
/// Delivery is at least once: a crash between the publish and marking the row sent republishes
/// it on restart; JetStream drops the copy within its duplicate window because the row's id is
/// sent as `Nats-Msg-Id`, and consumers use an [`crate::Inbox`] for the rest. On PostgreSQL
/// several relays can run side by side (`FOR UPDATE SKIP LOCKED`); on SQLite run one.
#[derive(Debug, Clone)]
pub struct Relay {
    db: Database,
    prefix: TablePrefix,
    js: jetstream::Context,
    config: RelayConfig,
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
        Ok(Relay {
            db,
            prefix,
            js,
            config,
        })
    }

    /// Publishes up to one batch of due rows and records the outcome of each.
    pub async fn publish_pending(&self) -> Result<BatchReport, OutboxError> {
        match &self.db {
            Database::Postgres(pool) => {
                let op = "relaying the outbox";
                let mut tx = pool.begin().await.map_err(OutboxError::database(op))?;
                let rows = sqlx::query(AssertSqlSafe(self.prefix.render(
                    // The inner query picks and locks ids only, so whatever plan PostgreSQL
                    // chooses, it never sorts whole rows (payloads) of a long backlog.
                    "SELECT id, message_id::text AS message_id, subject, payload, headers, attempts \
                     FROM {p}outbox WHERE id IN (SELECT id FROM {p}outbox \
                     WHERE sent_at IS NULL AND next_attempt_at <= now() \
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) ORDER BY id",
                )))
                .bind(i64::try_from(self.config.batch_size).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await
                .map_err(OutboxError::database(op))?;
                let rows = rows
                    .iter()
                    .map(|r| {
                        decode(
                            r.try_get("id"),
                            r.try_get("message_id"),
                            r.try_get("subject"),
                            r.try_get("payload"),
                            r.try_get("headers"),
                            r.try_get("attempts"),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let (sent, failed, report) = self.publish(&rows).await;
                self.hold(&sent).await;
                if !sent.is_empty() {
                    let sql = if self.config.retain_sent {
                        "UPDATE {p}outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1)"
                    } else {
                        "DELETE FROM {p}outbox WHERE id = ANY($1)"
                    };
                    sqlx::query(AssertSqlSafe(self.prefix.render(sql)))
                        .bind(sent)
                        .execute(&mut *tx)
                        .await
                        .map_err(OutboxError::database(op))?;
                }
                for (row, error) in failed {
                    let delay = self.config.backoff(attempts_after(row.attempts));
                    sqlx::query(AssertSqlSafe(self.prefix.render(
                        "UPDATE {p}outbox SET attempts = attempts + 1, last_error = $2, \
                         next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                    )))
                    .bind(row.id)
                    .bind(error)
                    .bind(delay.as_secs_f64())
                    .execute(&mut *tx)
                    .await
                    .map_err(OutboxError::database(op))?;
                }
                tx.commit().await.map_err(OutboxError::database(op))?;
                Ok(report)
            }
            Database::Sqlite(pool) => {
                let op = "relaying the outbox";
                let now = unix_micros(SystemTime::now());
                let rows = sqlx::query(AssertSqlSafe(self.prefix.render(
                    "SELECT id, message_id, subject, payload, headers, attempts FROM {p}outbox \
                     WHERE sent_at IS NULL AND next_attempt_at <= $2 ORDER BY id LIMIT $1",
                )))
                .bind(i64::try_from(self.config.batch_size).unwrap_or(i64::MAX))
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(OutboxError::database(op))?;
                let rows = rows
                    .iter()
                    .map(|r| {
                        let headers: Result<String, _> = r.try_get("headers");
                        let headers = headers.map(|h| serde_json::from_str(&h).unwrap_or_default());
                        decode(
                            r.try_get("id"),
                            r.try_get("message_id"),
                            r.try_get("subject"),
                            r.try_get("payload"),
                            headers,
                            r.try_get("attempts"),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let (sent, failed, report) = self.publish(&rows).await;
                self.hold(&sent).await;
                let mut tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(OutboxError::database(op))?;
                if !sent.is_empty() {
                    let ids = serde_json::Value::from(sent).to_string();
                    let query = if self.config.retain_sent {
                        sqlx::query(AssertSqlSafe(self.prefix.render(
                            "UPDATE {p}outbox SET sent_at = $2, attempts = attempts + 1 \
                             WHERE id IN (SELECT value FROM json_each($1))",
                        )))
                        .bind(ids)
                        .bind(unix_micros(SystemTime::now()))
                    } else {
                        sqlx::query(AssertSqlSafe(self.prefix.render(
                            "DELETE FROM {p}outbox WHERE id IN (SELECT value FROM json_each($1))",
                        )))
                        .bind(ids)
                    };
                    query
                        .execute(&mut *tx)
                        .await
                        .map_err(OutboxError::database(op))?;
                }
                for (row, error) in failed {
                    let delay = self.config.backoff(attempts_after(row.attempts));
                    let due = unix_micros(SystemTime::now() + delay);
                    sqlx::query(AssertSqlSafe(self.prefix.render(
                        "UPDATE {p}outbox SET attempts = attempts + 1, last_error = $2, \
                         next_attempt_at = $3 WHERE id = $1",
                    )))
                    .bind(row.id)
                    .bind(error)
                    .bind(due)
                    .execute(&mut *tx)
                    .await
                    .map_err(OutboxError::database(op))?;
                }
                tx.commit().await.map_err(OutboxError::database(op))?;
                Ok(report)
            }
        }
    }

    async fn hold(&self, sent: &[i64]) {
        if !sent.is_empty() && !self.config.hold_before_mark.is_zero() {
            tokio::time::sleep(self.config.hold_before_mark).await;
        }
    }

    /// Sends every row without waiting in between, then awaits all acknowledgements.
    async fn publish<'r>(
        &self,
        rows: &'r [PendingRow],
    ) -> (Vec<i64>, Vec<(&'r PendingRow, String)>, BatchReport) {
        let mut acks: Vec<(&PendingRow, Result<PublishAckFuture, String>)> =
            Vec::with_capacity(rows.len());
        for row in rows {
            let mut headers = HeaderMap::new();
            if let serde_json::Value::Object(map) = &row.headers {
                for (k, v) in map {
                    if let Some(v) = v.as_str() {
                        headers.insert(k.as_str(), v);
                    }
                }
            }
            let message = PublishMessage::build()
                .payload(row.payload.clone().into())
                .headers(headers)
                .message_id(&row.message_id);
            let sent = self
                .js
                .send_publish(row.subject.clone(), message)
                .await
                .map_err(|e| e.to_string());
            acks.push((row, sent));
        }
        let results = join_all(acks.into_iter().map(|(row, sent)| async move {
            match sent {
                Ok(ack) => (row, ack.await.map_err(|e| e.to_string())),
                Err(e) => (row, Err(e)),
            }
        }))
        .await;
        let mut report = BatchReport::default();
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for (row, result) in results {
            match result {
                Ok(ack) => {
                    report.published += 1;
                    if ack.duplicate {
                        report.duplicates += 1;
                    }
                    sent.push(row.id);
                }
                Err(e) => {
                    report.failed += 1;
                    failed.push((row, e));
                }
            }
        }
        (sent, failed, report)
    }

    /// Runs until `shutdown` completes: publishes whatever is due, then sleeps until a NOTIFY
    /// (PostgreSQL), the poll interval, or the next retry. `on_batch` sees every non-empty pass.
    pub async fn run<F>(
        &self,
        shutdown: impl Future<Output = ()>,
        mut on_batch: F,
    ) -> Result<(), OutboxError>
    where
        F: FnMut(&BatchReport),
    {
        let mut listener = match &self.db {
            Database::Postgres(pool) => {
                let mut l = PgListener::connect_with(pool)
                    .await
                    .map_err(OutboxError::database("listening for outbox notifications"))?;
                l.listen(&format!("{}outbox", self.prefix))
                    .await
                    .map_err(OutboxError::database("listening for outbox notifications"))?;
                Some(l)
            }
            Database::Sqlite(_) => None,
        };
        let poll = self.config.poll_interval.unwrap_or(match self.db {
            Database::Postgres(_) => Duration::from_secs(1),
            Database::Sqlite(_) => Duration::from_millis(10),
        });
        let mut shutdown = std::pin::pin!(shutdown);
        let mut retry_at: Option<Instant> = None;
        loop {
            let report = self.publish_pending().await?;
            if report != BatchReport::default() {
                on_batch(&report);
            }
            if report.failed > 0 {
                let at = Instant::now() + self.config.initial_backoff;
                retry_at = Some(retry_at.map_or(at, |r| r.min(at)));
            }
            if report.published + report.failed >= self.config.batch_size {
                continue; // more may be waiting
            }
            let wait = match retry_at.take() {
                Some(at) => poll.min(at.saturating_duration_since(Instant::now())),
                None => poll,
            };
            let notified = async {
                match listener.as_mut() {
                    Some(l) => {
                        let got = l.recv().await;
                        while let Some(_more) = l.next_buffered() {}
                        got.map(|_| ())
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                got = notified => { got.map_err(OutboxError::database("waiting for outbox notifications"))?; }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Rows not yet published.
    pub async fn pending(&self) -> Result<u64, OutboxError> {
        let sql = AssertSqlSafe(
            self.prefix
                .render("SELECT count(*) FROM {p}outbox WHERE sent_at IS NULL"),
        );
        let n: i64 = match &self.db {
            Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .map_err(OutboxError::database("counting pending outbox rows"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes rows published more than `age` ago; returns how many.
    pub async fn purge_sent(&self, age: Duration) -> Result<u64, OutboxError> {
        let op = "purging sent outbox rows";
        let done = match &self.db {
            Database::Sqlite(pool) => sqlx::query(AssertSqlSafe(
                self.prefix
                    .render("DELETE FROM {p}outbox WHERE sent_at IS NOT NULL AND sent_at < $1"),
            ))
            .bind(unix_micros(SystemTime::now() - age))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
            Database::Postgres(pool) => sqlx::query(AssertSqlSafe(self.prefix.render(
                "DELETE FROM {p}outbox WHERE sent_at IS NOT NULL \
                 AND sent_at < now() - make_interval(secs => $1)",
            )))
            .bind(age.as_secs_f64())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        };
        done.map_err(OutboxError::database(op))
    }
}

fn attempts_after(stored: i32) -> u32 {
    u32::try_from(stored).unwrap_or(0).saturating_add(1)
}

fn decode(
    id: Result<i64, sqlx::Error>,
    message_id: Result<String, sqlx::Error>,
    subject: Result<String, sqlx::Error>,
    payload: Result<Vec<u8>, sqlx::Error>,
    headers: Result<serde_json::Value, sqlx::Error>,
    attempts: Result<i32, sqlx::Error>,
) -> Result<PendingRow, OutboxError> {
    let op = OutboxError::database;
    Ok(PendingRow {
        id: id.map_err(op("decoding an outbox row"))?,
        message_id: message_id.map_err(op("decoding an outbox row"))?,
        subject: subject.map_err(op("decoding an outbox row"))?,
        payload: payload.map_err(op("decoding an outbox row"))?,
        headers: headers.map_err(op("decoding an outbox row"))?,
        attempts: attempts.map_err(op("decoding an outbox row"))?,
    })
}
