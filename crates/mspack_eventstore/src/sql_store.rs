//! The event store on SQL: one type for both backends. Every statement is written once per
//! backend; only the append differs in shape (a PL/pgSQL function call with arrays on
//! PostgreSQL, a few statements inside `BEGIN IMMEDIATE` on SQLite).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row, SqlSafeStr};
use uuid::Uuid;

use crate::config::StoreConfig;
use crate::error::{StoreError, to_i64, to_u64};
use crate::event::{
    AppendResult, Checkpoint, ExpectedVersion, Metadata, NewEvent, OutboxMessage, RecordedEvent,
    Snapshot,
};
use crate::outbox::{OutboxArrays, enqueue_in};
use crate::schema::{migrate_store, outbox_partition};
use crate::sql::{
    Arg, Backend, Database, Executor, Sql, SqlRow, Tx, from_unix_micros, sql_count, unix_micros,
};
use crate::store::{EventStore, StoredCheckpoint};
use crate::telemetry::StoreMetrics;
use crate::upcast::Upcasters;
use crate::validate::check_append;

/// The event columns every read selects, in the order [`decode_event`] reads them.
const COLUMNS_SQLITE: &str = "global_position, 0, stream_id, version, event_id, event_type, \
    schema_version, payload, correlation_id, causation_id, traceparent, recorded_at";
const COLUMNS_POSTGRES: &str = "global_position, transaction_id::text::bigint AS tx, stream_id, \
    version, event_id::text, event_type, schema_version, payload::text, correlation_id::text, \
    causation_id::text, traceparent, (extract(epoch FROM recorded_at) * 1000000)::bigint";

#[derive(Debug)]
struct Statements {
    pg_append: Arc<str>,
    pg_append_exact: Arc<str>,
    pg_append_one: Arc<str>,
    last_event: Sql,
    sqlite_insert: Sql,
    find_event: Sql,
    stream_tail: Sql,
    read_stream: Sql,
    read_all: Sql,
    stream_version: Sql,
    load_snapshot: Sql,
    save_snapshot: Sql,
    load_checkpoint: Sql,
    save_checkpoint: Sql,
    start_rebuild: Sql,
    finish_rebuild: Sql,
    lease: Sql,
    lock_projection: Sql,
}

impl Statements {
    fn new(config: &StoreConfig) -> Self {
        let p = &config.prefix;
        let columns = |template: &str| {
            Sql::new(
                p,
                &template.replace("{columns}", COLUMNS_SQLITE),
                &template.replace("{columns}", COLUMNS_POSTGRES),
            )
        };
        Statements {
            pg_append: p
                .render(
                    "SELECT out_status, out_version, out_first, out_last, out_tx \
                     FROM {p}append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     $15, $16, $17)",
                )
                .into(),
            // The common case as one plain statement (no PL/pgSQL): an expected version, events
            // only. Writers racing for the same version meet at the (stream, version) unique
            // index, which makes the loser's statement fail (a conflict) — no lock needed.
            pg_append_exact: p
                .render(
                    "WITH cur AS (SELECT coalesce(l.version, 0) AS v, l.recorded_at AS t, \
                     l.transaction_id AS x FROM (SELECT 1) AS one LEFT JOIN LATERAL \
                     (SELECT version, recorded_at, transaction_id FROM {p}events \
                     WHERE stream_id = $1 ORDER BY version DESC LIMIT 1) AS l ON true), \
                     ins AS (INSERT INTO {p}events (stream_id, version, event_id, event_type, \
                     schema_version, payload, correlation_id, causation_id, traceparent, \
                     recorded_at) \
                     SELECT $1, cur.v + u.ord, u.id, u.typ, u.sv, u.pl, u.co, u.ca, u.tp, \
                     greatest(clock_timestamp(), cur.t) FROM cur, \
                     unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::uuid[], \
                     $8::uuid[], $9::text[]) WITH ORDINALITY AS u(id, typ, sv, pl, co, ca, tp, ord) \
                     WHERE cur.v = $2 AND NOT coalesce(cur.x > pg_current_xact_id(), false) \
                     ORDER BY u.ord RETURNING global_position, transaction_id) \
                     SELECT (SELECT v FROM cur), count(*), min(global_position), \
                     max(global_position), max(transaction_id::text::bigint), \
                     (SELECT coalesce(x > pg_current_xact_id(), false) FROM cur) FROM ins",
                )
                .into(),
            // The same for one event, with scalar parameters (no array codec, no unnest).
            pg_append_one: p
                .render(
                    "WITH cur AS (SELECT coalesce(l.version, 0) AS v, l.recorded_at AS t, \
                     l.transaction_id AS x FROM (SELECT 1) AS one LEFT JOIN LATERAL \
                     (SELECT version, recorded_at, transaction_id FROM {p}events \
                     WHERE stream_id = $1 ORDER BY version DESC LIMIT 1) AS l ON true), \
                     ins AS (INSERT INTO {p}events (stream_id, version, event_id, event_type, \
                     schema_version, payload, correlation_id, causation_id, traceparent, \
                     recorded_at) \
                     SELECT $1, cur.v + 1, $3, $4, $5, $6, $7, $8, $9, \
                     greatest(clock_timestamp(), cur.t) FROM cur \
                     WHERE cur.v = $2 AND NOT coalesce(cur.x > pg_current_xact_id(), false) \
                     RETURNING global_position, transaction_id) \
                     SELECT (SELECT v FROM cur), count(*), min(global_position), \
                     max(global_position), max(transaction_id::text::bigint), \
                     (SELECT coalesce(x > pg_current_xact_id(), false) FROM cur) FROM ins",
                )
                .into(),
            last_event: Sql::both(
                p,
                "SELECT version, recorded_at FROM {p}events WHERE stream_id = $1 \
                 ORDER BY version DESC LIMIT 1",
            ),
            sqlite_insert: Sql::both(
                p,
                "INSERT INTO {p}events (stream_id, version, event_id, event_type, schema_version, \
                 payload, correlation_id, causation_id, traceparent, recorded_at) \
                 SELECT $1, $2 + j.key + 1, j.value ->> 'i', j.value ->> 't', j.value ->> 's', \
                 j.value -> 'p', j.value ->> 'c', j.value ->> 'a', j.value ->> 'r', $3 \
                 FROM json_each($4) AS j ORDER BY j.key RETURNING global_position",
            ),
            find_event: Sql::new(
                p,
                "SELECT stream_id, version FROM {p}events WHERE event_id = $1",
                "SELECT stream_id, version FROM {p}events WHERE event_id = $1::uuid",
            ),
            stream_tail: Sql::new(
                p,
                "SELECT event_id, global_position, 0 FROM {p}events \
                 WHERE stream_id = $1 AND version > $2 ORDER BY version LIMIT $3",
                "SELECT event_id::text, global_position, transaction_id::text::bigint \
                 FROM {p}events WHERE stream_id = $1 AND version > $2 ORDER BY version LIMIT $3",
            ),
            read_stream: columns(
                "SELECT {columns} FROM {p}events WHERE stream_id = $1 AND version > $2 \
                 ORDER BY version LIMIT $3",
            ),
            read_all: Sql::new(
                p,
                &format!(
                    "SELECT {COLUMNS_SQLITE} FROM {{p}}events \
                     WHERE global_position > $2 AND $1 >= 0 ORDER BY global_position LIMIT $3"
                ),
                // Only transactions below the oldest one still in flight: everything there is
                // final, and everything that commits later sorts after it.
                &format!(
                    "SELECT {COLUMNS_POSTGRES} FROM {{p}}events \
                     WHERE (transaction_id, global_position) > ($1::text::xid8, $2) \
                     AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
                     ORDER BY {{p}}events.transaction_id, {{p}}events.global_position LIMIT $3"
                ),
            ),
            stream_version: Sql::both(
                p,
                "SELECT coalesce(max(version), 0) FROM {p}events WHERE stream_id = $1",
            ),
            load_snapshot: Sql::new(
                p,
                "SELECT version, state FROM {p}snapshots WHERE stream_id = $1",
                "SELECT version, state::text FROM {p}snapshots WHERE stream_id = $1",
            ),
            save_snapshot: Sql::new(
                p,
                "INSERT INTO {p}snapshots (stream_id, version, state) VALUES ($1, $2, $3) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, \
                 state = excluded.state, recorded_at = unixepoch() \
                 WHERE {p}snapshots.version < excluded.version",
                "INSERT INTO {p}snapshots (stream_id, version, state) VALUES ($1, $2, $3::jsonb) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, \
                 state = excluded.state, recorded_at = now() \
                 WHERE {p}snapshots.version < excluded.version",
            ),
            load_checkpoint: Sql::both(
                p,
                "SELECT transaction_id, position, rebuilding FROM {p}checkpoints WHERE name = $1",
            ),
            save_checkpoint: Sql::both(
                p,
                "INSERT INTO {p}checkpoints (name, transaction_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id, \
                 position = excluded.position \
                 WHERE ({p}checkpoints.transaction_id, {p}checkpoints.position) \
                 < (excluded.transaction_id, excluded.position)",
            ),
            start_rebuild: Sql::new(
                p,
                "INSERT INTO {p}checkpoints (name, transaction_id, position, rebuilding) \
                 VALUES ($1, 0, 0, 1) ON CONFLICT (name) DO UPDATE SET transaction_id = 0, \
                 position = 0, rebuilding = 1",
                "INSERT INTO {p}checkpoints (name, transaction_id, position, rebuilding) \
                 VALUES ($1, 0, 0, true) ON CONFLICT (name) DO UPDATE SET transaction_id = 0, \
                 position = 0, rebuilding = true",
            ),
            finish_rebuild: Sql::new(
                p,
                "UPDATE {p}checkpoints SET rebuilding = 0 WHERE name = $1",
                "UPDATE {p}checkpoints SET rebuilding = false WHERE name = $1",
            ),
            lease: Sql::both(
                p,
                "INSERT INTO {p}checkpoints (name, position, lease_owner, lease_until_ms) \
                 VALUES ($1, 0, $2, {now_ms} + $3) \
                 ON CONFLICT (name) DO UPDATE SET lease_owner = excluded.lease_owner, \
                 lease_until_ms = excluded.lease_until_ms \
                 WHERE {p}checkpoints.lease_owner IS NULL OR {p}checkpoints.lease_owner = $2 \
                 OR {p}checkpoints.lease_until_ms < {now_ms}",
            ),
            // SQLite's BEGIN IMMEDIATE already excludes every other writer.
            lock_projection: Sql::new(
                p,
                "SELECT length($1)",
                "SELECT pg_advisory_xact_lock(hashtextextended('{p}projection:' || $1, 0))::text",
            ),
        }
    }
}

/// An [`EventStore`] on SQLite (the embedded default; WAL, `synchronous = FULL`) or PostgreSQL,
/// chosen by the [`Database`] it is opened on.
#[derive(Debug, Clone)]
pub struct SqlEventStore {
    db: Database,
    config: StoreConfig,
    sql: Arc<Statements>,
    metrics: Arc<StoreMetrics>,
}

impl SqlEventStore {
    /// Opens the database at `url` (see [`Database::connect`]) and migrates it.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        Self::new(Database::connect(url).await?, config).await
    }

    /// Opens (creating if needed) the SQLite file at `path`, or `:memory:`, and migrates it.
    pub async fn open_sqlite(path: &str, config: StoreConfig) -> Result<Self, StoreError> {
        let db = if path == ":memory:" {
            Database::sqlite_in_memory().await?
        } else {
            Database::open_sqlite(path).await?
        };
        Self::new(db, config).await
    }

    /// Uses `db`, creating or upgrading the tables first (idempotent, safe from several
    /// processes at once).
    pub async fn new(db: Database, config: StoreConfig) -> Result<Self, StoreError> {
        migrate_store(&db, &config.prefix).await?;
        Ok(SqlEventStore {
            sql: Arc::new(Statements::new(&config)),
            metrics: Arc::new(StoreMetrics::new(db.backend())),
            db,
            config,
        })
    }

    /// The database underneath (the outbox relay, the inbox and sagas share it).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Reads up to `limit` events after `after` in the global order inside `tx` (a projection
    /// whose read model is in this database reads, applies and checkpoints in one transaction).
    pub async fn read_all_in(
        &self,
        tx: &mut Tx,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = tx
            .fetch_all(&self.sql.read_all, &read_all_args(after, limit)?)
            .await
            .map_err(StoreError::database("reading all events"))?;
        self.decode_all(&rows)
    }

    /// Takes the lock of projection `name` until `tx` ends, so runners of one projection take
    /// turns.
    pub async fn lock_projection_in(&self, tx: &mut Tx, name: &str) -> Result<(), StoreError> {
        tx.fetch_all(&self.sql.lock_projection, &[name.into()])
            .await
            .map_err(StoreError::database("locking a projection"))?;
        Ok(())
    }

    /// The checkpoint of projection `name` read inside `tx`.
    pub async fn load_checkpoint_in(
        &self,
        tx: &mut Tx,
        name: &str,
    ) -> Result<StoredCheckpoint, StoreError> {
        let row = tx
            .fetch_optional(&self.sql.load_checkpoint, &[name.into()])
            .await
            .map_err(StoreError::database("loading a checkpoint"))?;
        decode_checkpoint(row)
    }

    /// Moves the checkpoint of `name` forward inside `tx` (never backwards).
    pub async fn save_checkpoint_in(
        &self,
        tx: &mut Tx,
        name: &str,
        checkpoint: Checkpoint,
    ) -> Result<(), StoreError> {
        tx.execute(
            &self.sql.save_checkpoint,
            &checkpoint_args(name, checkpoint)?,
        )
        .await
        .map_err(StoreError::database("saving a checkpoint"))?;
        Ok(())
    }

    /// Sets the checkpoint of `name` to the start inside `tx` (with the read model's reset, so
    /// both commit together), without the rebuilding mark.
    pub async fn reset_checkpoint_in(&self, tx: &mut Tx, name: &str) -> Result<(), StoreError> {
        tx.execute(&self.sql.start_rebuild, &[name.into()])
            .await
            .map_err(StoreError::database("resetting a checkpoint"))?;
        tx.execute(&self.sql.finish_rebuild, &[name.into()])
            .await
            .map_err(StoreError::database("resetting a checkpoint"))?;
        Ok(())
    }

    fn decode_all(&self, rows: &[SqlRow]) -> Result<Vec<RecordedEvent>, StoreError> {
        rows.iter()
            .map(|r| decode_event(r, &self.config.upcasters))
            .collect()
    }

    async fn append_postgres(
        &self,
        target: PgTarget<'_>,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        let expected_i64 = match expected.required() {
            Some(v) => to_i64("expected version", v)?,
            None => -1,
        };
        let schema = schema_versions(events)?;
        let out = OutboxArrays::new(messages);
        let query = sqlx::query(AssertSqlSafe(self.sql.pg_append.clone()).into_sql_str())
            .bind(stream_id)
            .bind(expected_i64);
        let query = bind_event_arrays(query, events, schema)
            .bind(self.config.publish_subject.as_deref())
            .bind(i32::try_from(outbox_partition(stream_id)).unwrap_or(0))
            .bind(out.ids)
            .bind(out.subjects)
            .bind(out.payloads)
            .bind(out.headers)
            .bind(out.keys)
            .bind(out.partitions);
        let row = match target {
            PgTarget::Pool(pool) => query.fetch_one(pool).await,
            PgTarget::Conn(conn) => query.fetch_one(conn).await,
        }
        .map_err(|e| StoreError::database("appending events")(e))?;
        let get = |i: usize| -> Result<Option<i64>, StoreError> {
            row.try_get(i)
                .map_err(StoreError::database("reading the append result"))
        };
        let status: i32 = row
            .try_get(0)
            .map_err(StoreError::database("reading the append result"))?;
        let version = to_u64("version", get(1)?.unwrap_or(0))?;
        if status == 1 {
            return Err(StoreError::Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual: version,
            });
        }
        Ok(AppendResult {
            version,
            first_position: get(2)?.map(|p| to_u64("global position", p)).transpose()?,
            last_position: get(3)?.map(|p| to_u64("global position", p)).transpose()?,
            transaction: to_u64("transaction id", get(4)?.unwrap_or(0))?,
            idempotent_retry: status == 2,
        })
    }

    /// The single-statement append (see `pg_append_exact`); `None` when the stream was not at
    /// `expected` (the caller then tells a retry of a committed append from a conflict).
    async fn append_postgres_exact(
        &self,
        target: PgTarget<'_>,
        stream_id: &str,
        expected: u64,
        events: &[NewEvent],
    ) -> Result<Result<AppendResult, u64>, StoreError> {
        let schema = schema_versions(events)?;
        let query = match events {
            [one] => sqlx::query(AssertSqlSafe(self.sql.pg_append_one.clone()).into_sql_str())
                .bind(stream_id)
                .bind(to_i64("expected version", expected)?)
                .bind(one.event_id)
                .bind(one.event_type.as_str())
                .bind(schema.first().copied().unwrap_or(1))
                .bind(Json(&one.payload))
                .bind(one.metadata.correlation_id)
                .bind(one.metadata.causation_id)
                .bind(one.metadata.traceparent.as_deref()),
            _ => bind_event_arrays(
                sqlx::query(AssertSqlSafe(self.sql.pg_append_exact.clone()).into_sql_str())
                    .bind(stream_id)
                    .bind(to_i64("expected version", expected)?),
                events,
                schema,
            ),
        };
        let row = match target {
            PgTarget::Pool(pool) => query.fetch_one(pool).await,
            PgTarget::Conn(conn) => query.fetch_one(conn).await,
        }
        .map_err(StoreError::database("appending events"))?;
        let get = |i: usize| -> Result<Option<i64>, StoreError> {
            row.try_get(i)
                .map_err(StoreError::database("reading the append result"))
        };
        let current = to_u64("version", get(0)?.unwrap_or(0))?;
        if get(1)?.unwrap_or(0) == 0 {
            let out_of_order: bool = row
                .try_get(5)
                .map_err(StoreError::database("reading the append result"))?;
            if out_of_order {
                return Err(StoreError::OutOfOrder {
                    stream: stream_id.to_owned(),
                });
            }
            return Ok(Err(current));
        }
        Ok(Ok(AppendResult {
            version: current + events.len() as u64,
            first_position: get(2)?.map(|p| to_u64("global position", p)).transpose()?,
            last_position: get(3)?.map(|p| to_u64("global position", p)).transpose()?,
            transaction: to_u64("transaction id", get(4)?.unwrap_or(0))?,
            idempotent_retry: false,
        }))
    }

    /// Whether an append can take the single-statement path.
    fn exact_path(
        &self,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Option<u64> {
        if events.is_empty() || !messages.is_empty() || self.config.publish_subject.is_some() {
            return None;
        }
        expected.required()
    }

    /// Turns a failed append into the error the caller can act on: a race on the stream's
    /// version (possible under REPEATABLE READ or SERIALIZABLE) is a conflict with the version
    /// read afresh; an event id stored elsewhere names where.
    async fn classify_append_error(
        &self,
        error: StoreError,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> StoreError {
        let StoreError::Database { source, .. } = &error else {
            return error;
        };
        let Some(constraint) = source
            .as_database_error()
            .and_then(|db| db.constraint().map(str::to_owned))
            .or_else(|| {
                // SQLite names the columns, not the constraint.
                let db = source.as_database_error()?;
                if !db.is_unique_violation() {
                    return None;
                }
                let message = db.message();
                if message.contains("event_id") {
                    Some("events_event_id".to_owned())
                } else if message.contains("stream_id") {
                    Some("events_stream_version".to_owned())
                } else {
                    None
                }
            })
        else {
            return error;
        };
        // On SQLite the caller's transaction may hold the only connection (`:memory:`): no
        // second query there; the version race cannot happen under its write lock anyway.
        let can_query = self.db.backend() == Backend::Postgres;
        if constraint.ends_with("events_stream_version") {
            let actual = if can_query {
                self.stream_version(stream_id).await.unwrap_or(0)
            } else {
                0
            };
            return StoreError::Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual,
            };
        }
        if constraint.ends_with("events_event_id") {
            if !can_query {
                return StoreError::DuplicateEventId {
                    event_id: events.first().map(|e| e.event_id).unwrap_or_default(),
                    stored_in: String::new(),
                };
            }
            for event in events {
                if let Ok(Some(row)) = self
                    .db
                    .fetch_optional(
                        &self.sql.find_event,
                        &[event.event_id.to_string().as_str().into()],
                    )
                    .await
                    && let Ok(stored_in) = row.text(0, "stream id")
                {
                    return StoreError::DuplicateEventId {
                        event_id: event.event_id,
                        stored_in,
                    };
                }
            }
        }
        error
    }

    async fn append_sqlite(
        &self,
        tx: &mut Tx,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        let op = "appending events";
        let last = tx
            .fetch_optional(&self.sql.last_event, &[stream_id.into()])
            .await
            .map_err(StoreError::database(op))?;
        let (current, last_at) = match &last {
            Some(row) => (row.u64(0, "version")?, row.int(1, "recorded at")?),
            None => (0, 0),
        };
        let mismatch = expected.required().is_some_and(|v| v != current);
        if let Some(first) = events.first()
            && (mismatch || self.find_event_in(tx, first.event_id).await?.is_some())
        {
            if let Some(done) = self
                .already_appended(tx, stream_id, expected, events)
                .await?
            {
                return Ok(done);
            }
            if !mismatch {
                let stored_in = self
                    .find_event_in(tx, first.event_id)
                    .await?
                    .map(|(s, _)| s)
                    .unwrap_or_default();
                return Err(StoreError::DuplicateEventId {
                    event_id: first.event_id,
                    stored_in,
                });
            }
        }
        if mismatch {
            return Err(StoreError::Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual: current,
            });
        }
        let (mut first, mut last_position) = (None, None);
        if !events.is_empty() {
            // Taken inside the write lock, so times never go backwards along the global order.
            let now = unix_micros(SystemTime::now()).max(last_at);
            let batch = events_json(events);
            let current_i64 = to_i64("version", current)?;
            let rows = tx
                .fetch_all(
                    &self.sql.sqlite_insert,
                    &[
                        stream_id.into(),
                        current_i64.into(),
                        now.into(),
                        batch.as_str().into(),
                    ],
                )
                .await
                .map_err(StoreError::database(op))?;
            let mut positions = Vec::with_capacity(rows.len());
            for row in &rows {
                positions.push(row.u64(0, "global position")?);
            }
            first = positions.iter().copied().min();
            last_position = positions.iter().copied().max();
            if let Some(subject) = &self.config.publish_subject {
                let published: Vec<OutboxMessage> = events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| event_message(subject, stream_id, current + 1 + i as u64, e))
                    .collect();
                enqueue_in(tx, &self.config.prefix, &published).await?;
            }
        }
        enqueue_in(tx, &self.config.prefix, messages).await?;
        Ok(AppendResult {
            version: current + events.len() as u64,
            first_position: first,
            last_position,
            transaction: 0,
            idempotent_retry: false,
        })
    }

    /// After a version mismatch: the earlier attempt's result if this append already committed
    /// (same ids in the same place), else the conflict.
    async fn retry_or_conflict(
        &self,
        exec: &mut impl Executor,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        actual: u64,
    ) -> Result<AppendResult, StoreError> {
        if let Some(done) = self
            .already_appended(exec, stream_id, expected, events)
            .await?
        {
            return Ok(done);
        }
        Err(StoreError::Conflict {
            stream: stream_id.to_owned(),
            expected,
            actual,
        })
    }

    async fn find_event_in(
        &self,
        tx: &mut impl Executor,
        event_id: Uuid,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let id = event_id.to_string();
        let row = tx
            .row(&self.sql.find_event, &[id.as_str().into()])
            .await
            .map_err(StoreError::database("looking up an event id"))?;
        row.map(|r| Ok((r.text(0, "stream id")?, r.u64(1, "version")?)))
            .transpose()
    }

    /// The result of an earlier attempt of this same append, if its events are stored where
    /// this one would put them (same ids, in order, right after the expected version).
    async fn already_appended(
        &self,
        tx: &mut impl Executor,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Option<AppendResult>, StoreError> {
        let Some(first) = events.first() else {
            return Ok(None);
        };
        let Some((stream, version)) = self.find_event_in(tx, first.event_id).await? else {
            return Ok(None);
        };
        let base = version.saturating_sub(1);
        if stream != stream_id || expected.required().is_some_and(|v| v != base) {
            return Ok(None);
        }
        let rows = tx
            .rows(
                &self.sql.stream_tail,
                &[
                    stream_id.into(),
                    to_i64("version", base)?.into(),
                    sql_count(events.len()).into(),
                ],
            )
            .await
            .map_err(StoreError::database("checking an append retry"))?;
        if rows.len() != events.len() {
            return Ok(None);
        }
        let mut positions = Vec::with_capacity(rows.len());
        let mut transaction = 0;
        for (row, event) in rows.iter().zip(events) {
            if row.uuid(0, "event id")? != event.event_id {
                return Ok(None);
            }
            positions.push(row.u64(1, "global position")?);
            transaction = row.u64(2, "transaction id")?;
        }
        Ok(Some(AppendResult {
            version: base + events.len() as u64,
            first_position: positions.iter().copied().min(),
            last_position: positions.iter().copied().max(),
            transaction,
            idempotent_retry: true,
        }))
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the events' columns as the seven arrays the append statements unnest (ids, types,
/// schema versions, payloads, correlation ids, causation ids, traceparents).
fn bind_event_arrays<'q>(
    query: PgQuery<'q>,
    events: &'q [NewEvent],
    schema: Vec<i32>,
) -> PgQuery<'q> {
    query
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<Uuid>>())
        .bind(
            events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(schema)
        .bind(
            events
                .iter()
                .map(|e| Json(&e.payload))
                .collect::<Vec<Json<&Value>>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.metadata.correlation_id)
                .collect::<Vec<Option<Uuid>>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.metadata.causation_id)
                .collect::<Vec<Option<Uuid>>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.metadata.traceparent.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
}

/// The events' schema versions as the `int` PostgreSQL stores.
fn schema_versions(events: &[NewEvent]) -> Result<Vec<i32>, StoreError> {
    events
        .iter()
        .map(|e| {
            i32::try_from(e.schema_version).map_err(|_| StoreError::OutOfRange {
                what: "schema version",
                value: e.schema_version.into(),
            })
        })
        .collect()
}

/// A conflict reported where none can be (kept total instead of panicking).
fn unreachable_conflict() -> StoreError {
    StoreError::Corrupt {
        what: "append result",
        detail: "a version mismatch was reported twice".to_owned(),
    }
}

/// A PostgreSQL connection inside a caller's transaction, as an [`Executor`].
struct TxConn<'a>(&'a mut sqlx::PgConnection);

impl Executor for TxConn<'_> {
    async fn run(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        crate::sql::run_on_pg(self.0, sql, args).await
    }

    async fn rows(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Vec<SqlRow>, sqlx::Error> {
        crate::sql::rows_on_pg(self.0, sql, args).await
    }

    async fn row(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<SqlRow>, sqlx::Error> {
        Ok(crate::sql::rows_on_pg(self.0, sql, args)
            .await?
            .into_iter()
            .next())
    }
}

enum PgTarget<'a> {
    Pool(&'a sqlx::PgPool),
    Conn(&'a mut sqlx::PgConnection),
}

/// The outbox message of a published event.
fn event_message(subject: &str, stream_id: &str, version: u64, e: &NewEvent) -> OutboxMessage {
    let mut headers = Vec::with_capacity(7);
    if let Some(tp) = &e.metadata.traceparent {
        headers.push(("traceparent".to_owned(), tp.clone()));
    }
    headers.push(("Mspack-Event-Type".to_owned(), e.event_type.clone()));
    headers.push(("Mspack-Stream".to_owned(), stream_id.to_owned()));
    headers.push(("Mspack-Version".to_owned(), version.to_string()));
    headers.push((
        "Mspack-Schema-Version".to_owned(),
        e.schema_version.to_string(),
    ));
    if let Some(c) = e.metadata.correlation_id {
        headers.push(("Mspack-Correlation-Id".to_owned(), c.to_string()));
    }
    if let Some(c) = e.metadata.causation_id {
        headers.push(("Mspack-Causation-Id".to_owned(), c.to_string()));
    }
    OutboxMessage {
        message_id: e.event_id,
        subject: format!("{subject}.{}", e.event_type),
        payload: e.payload.to_string().into_bytes(),
        headers,
        ordering_key: Some(stream_id.to_owned()),
    }
}

/// The batch as the JSON array that `json_each` unpacks in the SQLite insert.
fn events_json(events: &[NewEvent]) -> String {
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "i": e.event_id.to_string(),
                "t": e.event_type,
                "s": e.schema_version,
                "p": e.payload,
                "c": e.metadata.correlation_id.map(|u| u.to_string()),
                "a": e.metadata.causation_id.map(|u| u.to_string()),
                "r": e.metadata.traceparent,
            })
        })
        .collect();
    Value::Array(rows).to_string()
}

fn read_all_args(after: Checkpoint, limit: usize) -> Result<[Arg<'static>; 3], StoreError> {
    Ok([
        to_i64("transaction id", after.transaction)?.into(),
        to_i64("global position", after.position)?.into(),
        sql_count(limit).into(),
    ])
}

fn checkpoint_args(name: &str, checkpoint: Checkpoint) -> Result<[Arg<'_>; 3], StoreError> {
    Ok([
        name.into(),
        to_i64("transaction id", checkpoint.transaction)?.into(),
        to_i64("checkpoint", checkpoint.position)?.into(),
    ])
}

fn decode_checkpoint(row: Option<SqlRow>) -> Result<StoredCheckpoint, StoreError> {
    let Some(row) = row else {
        return Ok(StoredCheckpoint::default());
    };
    Ok(StoredCheckpoint {
        checkpoint: Checkpoint {
            transaction: row.u64(0, "checkpoint transaction")?,
            position: row.u64(1, "checkpoint")?,
        },
        rebuilding: row.bool(2, "rebuilding")?,
    })
}

/// Decodes a row of the `{columns}` select, upcasting the payload.
fn decode_event(row: &SqlRow, upcasters: &Upcasters) -> Result<RecordedEvent, StoreError> {
    let schema_version = row.int(6, "schema version")?;
    let mut event = RecordedEvent {
        position: row.u64(0, "global position")?,
        transaction: row.u64(1, "transaction id")?,
        stream_id: row.text(2, "stream id")?,
        version: row.u64(3, "version")?,
        event_id: row.uuid(4, "event id")?,
        event_type: row.text(5, "event type")?,
        schema_version: u32::try_from(schema_version).map_err(|_| StoreError::OutOfRange {
            what: "schema version",
            value: schema_version.into(),
        })?,
        payload: row.json(7, "event payload")?,
        metadata: Metadata {
            correlation_id: row.opt_uuid(8, "correlation id")?,
            causation_id: row.opt_uuid(9, "causation id")?,
            traceparent: row.opt_text(10, "traceparent")?,
        },
        recorded_at: from_unix_micros(row.int(11, "recorded at")?),
    };
    upcasters.upcast(&mut event)?;
    Ok(event)
}

impl EventStore for SqlEventStore {
    type Tx = Tx;

    async fn begin(&self) -> Result<Tx, StoreError> {
        self.db
            .begin()
            .await
            .map_err(StoreError::database("starting a transaction"))
    }

    async fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        tx.commit()
            .await
            .map_err(StoreError::database("committing a transaction"))
    }

    async fn append_in(
        &self,
        tx: &mut Tx,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        check_append(stream_id, events, messages)?;
        let _span = self.metrics.span(stream_id, events.len());
        let started = Instant::now();
        let result = match tx {
            Tx::Postgres(conn) => match self.exact_path(expected, events, messages) {
                Some(version) => {
                    let fast = self
                        .append_postgres_exact(PgTarget::Conn(conn), stream_id, version, events)
                        .await;
                    match fast {
                        Ok(Err(actual)) => {
                            let mut exec = TxConn(conn);
                            self.retry_or_conflict(&mut exec, stream_id, expected, events, actual)
                                .await
                        }
                        Ok(Ok(done)) => Ok(done),
                        Err(e) => Err(e),
                    }
                }
                None => {
                    self.append_postgres(
                        PgTarget::Conn(conn),
                        stream_id,
                        expected,
                        events,
                        messages,
                    )
                    .await
                }
            },
            Tx::Sqlite(_) => {
                self.append_sqlite(tx, stream_id, expected, events, messages)
                    .await
            }
        };
        let result = match result {
            Err(e) => Err(self
                .classify_append_error(e, stream_id, expected, events)
                .await),
            ok => ok,
        };
        self.metrics.appended(started, events.len(), &result);
        result
    }

    async fn append_with_outbox(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        match &self.db {
            Database::Postgres(pool) => {
                check_append(stream_id, events, messages)?;
                let _span = self.metrics.span(stream_id, events.len());
                let started = Instant::now();
                // One statement in its own implicit transaction. Under a REPEATABLE READ or
                // SERIALIZABLE default its snapshot predates the stream lock it waited for; the
                // unique index then refuses the stale version, and the append is decided again
                // in an explicit READ COMMITTED transaction, whose statements see the winner.
                let result = match self.exact_path(expected, events, messages) {
                    Some(version) => {
                        match self
                            .append_postgres_exact(PgTarget::Pool(pool), stream_id, version, events)
                            .await
                        {
                            Ok(Err(actual)) => {
                                let mut db = &self.db;
                                self.retry_or_conflict(&mut db, stream_id, expected, events, actual)
                                    .await
                            }
                            other => other.and_then(|r| r.map_err(|_| unreachable_conflict())),
                        }
                    }
                    None => {
                        self.append_postgres(
                            PgTarget::Pool(pool),
                            stream_id,
                            expected,
                            events,
                            messages,
                        )
                        .await
                    }
                };
                let result = match result {
                    Err(e) => Err(self
                        .classify_append_error(e, stream_id, expected, events)
                        .await),
                    ok => ok,
                };
                let result = match result {
                    Err(StoreError::Conflict { actual, .. })
                        if expected.required().is_none_or(|v| v == actual) =>
                    {
                        let mut tx = self.begin().await?;
                        let retried = self
                            .append_in(&mut tx, stream_id, expected, events, messages)
                            .await;
                        match retried {
                            Ok(done) => self.commit(tx).await.map(|()| done),
                            Err(e) => Err(e),
                        }
                    }
                    other => other,
                };
                self.metrics.appended(started, events.len(), &result);
                result
            }
            Database::Sqlite(_) => {
                let mut tx = self.begin().await?;
                let result = self
                    .append_in(&mut tx, stream_id, expected, events, messages)
                    .await?;
                self.commit(tx).await?;
                Ok(result)
            }
        }
    }

    async fn read_stream_in(
        &self,
        tx: &mut Tx,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = tx
            .fetch_all(
                &self.sql.read_stream,
                &[
                    stream_id.into(),
                    to_i64("version", after_version)?.into(),
                    sql_count(limit).into(),
                ],
            )
            .await
            .map_err(StoreError::database("reading a stream"))?;
        self.decode_all(&rows)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = self
            .db
            .fetch_all(
                &self.sql.read_stream,
                &[
                    stream_id.into(),
                    to_i64("version", after_version)?.into(),
                    sql_count(limit).into(),
                ],
            )
            .await
            .map_err(StoreError::database("reading a stream"))?;
        self.decode_all(&rows)
    }

    async fn read_all(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = self
            .db
            .fetch_all(&self.sql.read_all, &read_all_args(after, limit)?)
            .await
            .map_err(StoreError::database("reading all events"))?;
        self.decode_all(&rows)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        let row = self
            .db
            .fetch_one(&self.sql.stream_version, &[stream_id.into()])
            .await
            .map_err(StoreError::database("reading a stream version"))?;
        row.u64(0, "version")
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let row = self
            .db
            .fetch_optional(&self.sql.load_snapshot, &[stream_id.into()])
            .await
            .map_err(StoreError::database("loading a snapshot"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Snapshot {
            stream_id: stream_id.to_owned(),
            version: row.u64(0, "snapshot version")?,
            state: row.json(1, "snapshot state")?,
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let state = snapshot.state.to_string();
        self.db
            .execute(
                &self.sql.save_snapshot,
                &[
                    snapshot.stream_id.as_str().into(),
                    to_i64("snapshot version", snapshot.version)?.into(),
                    state.as_str().into(),
                ],
            )
            .await
            .map_err(StoreError::database("saving a snapshot"))?;
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<StoredCheckpoint, StoreError> {
        let row = self
            .db
            .fetch_optional(&self.sql.load_checkpoint, &[name.into()])
            .await
            .map_err(StoreError::database("loading a checkpoint"))?;
        decode_checkpoint(row)
    }

    async fn save_checkpoint(&self, name: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.db
            .execute(
                &self.sql.save_checkpoint,
                &checkpoint_args(name, checkpoint)?,
            )
            .await
            .map_err(StoreError::database("saving a checkpoint"))?;
        Ok(())
    }

    async fn start_rebuild(&self, name: &str) -> Result<(), StoreError> {
        self.db
            .execute(&self.sql.start_rebuild, &[name.into()])
            .await
            .map_err(StoreError::database("starting a rebuild"))?;
        Ok(())
    }

    async fn finish_rebuild(&self, name: &str) -> Result<(), StoreError> {
        self.db
            .execute(&self.sql.finish_rebuild, &[name.into()])
            .await
            .map_err(StoreError::database("finishing a rebuild"))?;
        Ok(())
    }

    async fn lease_projection(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let changed = self
            .db
            .execute(&self.sql.lease, &[name.into(), owner.into(), ttl_ms.into()])
            .await
            .map_err(StoreError::database("taking a projection lease"))?;
        Ok(changed == 1)
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }
}
