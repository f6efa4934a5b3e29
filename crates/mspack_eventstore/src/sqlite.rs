//! The SQLite event store: `BEGIN IMMEDIATE` transactions, batches inserted from one JSON array.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr, SqlStr};
use uuid::Uuid;

use crate::config::StoreConfig;
use crate::database::Database;
use crate::error::{StoreError, to_i64, to_u64};
use crate::event::{
    AppendResult, ExpectedVersion, Metadata, NewEvent, OutboxMessage, RecordedEvent, Snapshot,
};
use crate::migrate::migrate;
use crate::schema::{COMPONENT, MIGRATIONS};
use crate::store::{EventStore, from_unix_micros, headers_json, sql_limit, unix_micros};
use crate::upcast::Upcasters;

const COLUMNS: &str = "global_position, stream_id, version, event_id, event_type, schema_version, \
    payload, correlation_id, causation_id, traceparent, recorded_at";

#[derive(Debug)]
struct Statements {
    stream_version: SqlStr,
    insert_events: SqlStr,
    publish_events: SqlStr,
    insert_message: SqlStr,
    read_stream: SqlStr,
    read_all: SqlStr,
    load_snapshot: SqlStr,
    save_snapshot: SqlStr,
    load_checkpoint: SqlStr,
    save_checkpoint: SqlStr,
}

/// An [`EventStore`] on SQLite, the embedded default.
#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    db: Database,
    pool: SqlitePool,
    config: StoreConfig,
    sql: Arc<Statements>,
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

impl SqliteEventStore {
    /// Opens (creating if needed) the SQLite file at `path`, or `:memory:`, and migrates it.
    pub async fn open(path: &str, config: StoreConfig) -> Result<Self, StoreError> {
        let db = if path == ":memory:" {
            Database::sqlite_in_memory().await?
        } else {
            Database::open_sqlite(path).await?
        };
        match db {
            Database::Sqlite(pool) => Self::new(pool, config).await,
            Database::Postgres(_) => Err(StoreError::UnsupportedUrl(path.to_owned())),
        }
    }

    /// Uses `pool`, creating or upgrading the tables first (idempotent).
    pub async fn new(pool: SqlitePool, config: StoreConfig) -> Result<Self, StoreError> {
        let db = Database::Sqlite(pool.clone());
        migrate(&db, &config.prefix, COMPONENT, MIGRATIONS).await?;
        let p = &config.prefix;
        let sql = Statements {
            stream_version: sql(
                p.render("SELECT coalesce(max(version), 0) FROM {p}events WHERE stream_id = $1")
            ),
            insert_events: sql(p.render(
                "INSERT INTO {p}events (stream_id, version, event_id, event_type, schema_version, \
                 payload, correlation_id, causation_id, traceparent, recorded_at) \
                 SELECT $1, $2 + j.key + 1, j.value ->> 'i', j.value ->> 't', j.value ->> 's', \
                 j.value -> 'p', j.value ->> 'c', j.value ->> 'a', j.value ->> 'r', $3 \
                 FROM json_each($4) AS j ORDER BY j.key RETURNING global_position",
            )),
            publish_events: sql(p.render(
                "INSERT INTO {p}outbox (message_id, subject, payload, headers, created_at) \
                 SELECT event_id, $3 || '.' || event_type, CAST(payload AS BLOB), \
                 json_object('traceparent', traceparent, 'Mspack-Event-Type', event_type, \
                 'Mspack-Stream', stream_id, 'Mspack-Version', CAST(version AS TEXT), \
                 'Mspack-Schema-Version', CAST(schema_version AS TEXT), \
                 'Mspack-Correlation-Id', correlation_id, 'Mspack-Causation-Id', causation_id), $4 \
                 FROM {p}events WHERE stream_id = $1 AND version > $2 ORDER BY version",
            )),
            insert_message: sql(p.render(
                "INSERT INTO {p}outbox (message_id, subject, payload, headers, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )),
            read_stream: sql(p.render(&format!(
                "SELECT {COLUMNS} FROM {{p}}events WHERE stream_id = $1 AND version > $2 \
                 ORDER BY version LIMIT $3"
            ))),
            read_all: sql(p.render(&format!(
                "SELECT {COLUMNS} FROM {{p}}events WHERE global_position > $1 \
                 ORDER BY global_position LIMIT $2"
            ))),
            load_snapshot: sql(
                p.render("SELECT version, state FROM {p}snapshots WHERE stream_id = $1")
            ),
            save_snapshot: sql(p.render(
                "INSERT INTO {p}snapshots (stream_id, version, state) VALUES ($1, $2, $3) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, \
                 state = excluded.state, recorded_at = unixepoch() \
                 WHERE {p}snapshots.version < excluded.version",
            )),
            load_checkpoint: sql(p.render("SELECT position FROM {p}checkpoints WHERE name = $1")),
            save_checkpoint: sql(p.render(
                "INSERT INTO {p}checkpoints (name, position) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            )),
        };
        Ok(SqliteEventStore {
            db,
            pool,
            config,
            sql: Arc::new(sql),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn parse_uuid(what: &'static str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: format!("{text:?}: {e}"),
    })
}

fn decode_row(row: &SqliteRow, upcasters: &Upcasters) -> Result<RecordedEvent, StoreError> {
    let get = |e: sqlx::Error| StoreError::Database {
        operation: "decoding an event row",
        source: e,
    };
    let schema_version: i64 = row.try_get("schema_version").map_err(get)?;
    let event_id: String = row.try_get("event_id").map_err(get)?;
    let payload: String = row.try_get("payload").map_err(get)?;
    let correlation: Option<String> = row.try_get("correlation_id").map_err(get)?;
    let causation: Option<String> = row.try_get("causation_id").map_err(get)?;
    let mut event = RecordedEvent {
        position: to_u64(
            "global position",
            row.try_get("global_position").map_err(get)?,
        )?,
        stream_id: row.try_get("stream_id").map_err(get)?,
        version: to_u64("version", row.try_get("version").map_err(get)?)?,
        event_id: parse_uuid("event id", &event_id)?,
        event_type: row.try_get("event_type").map_err(get)?,
        schema_version: u32::try_from(schema_version).map_err(|_| StoreError::OutOfRange {
            what: "schema version",
            value: schema_version.into(),
        })?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
            what: "event payload",
            detail: e.to_string(),
        })?,
        metadata: Metadata {
            correlation_id: correlation
                .as_deref()
                .map(|c| parse_uuid("correlation id", c))
                .transpose()?,
            causation_id: causation
                .as_deref()
                .map(|c| parse_uuid("causation id", c))
                .transpose()?,
            traceparent: row.try_get("traceparent").map_err(get)?,
        },
        recorded_at: from_unix_micros(row.try_get("recorded_at").map_err(get)?),
    };
    upcasters.upcast(&mut event)?;
    Ok(event)
}

/// The batch as the JSON array that `json_each` unpacks in the insert statement.
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

fn append_error(stream_id: &str, expected: ExpectedVersion, e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_unique_violation()
        && db.message().contains("stream_id")
    {
        return StoreError::Conflict {
            stream: stream_id.to_owned(),
            expected,
            actual: 0,
        };
    }
    StoreError::Database {
        operation: "appending events",
        source: e,
    }
}

impl EventStore for SqliteEventStore {
    async fn append_with_outbox(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        let op = "appending events";
        let now = unix_micros(SystemTime::now());
        // IMMEDIATE takes the write lock up front, so two appenders cannot both read version N
        // and then deadlock upgrading their read locks.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::database(op))?;
        let current: i64 = sqlx::query_scalar(self.sql.stream_version.clone())
            .bind(stream_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::database(op))?;
        let current = to_u64("version", current)?;
        if let Some(required) = expected.required()
            && required != current
        {
            return Err(StoreError::Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual: current,
            });
        }
        let current_i64 = to_i64("version", current)?;
        let (mut first, mut last) = (None, None);
        if !events.is_empty() {
            let positions: Vec<i64> = sqlx::query_scalar(self.sql.insert_events.clone())
                .bind(stream_id)
                .bind(current_i64)
                .bind(now)
                .bind(events_json(events))
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| append_error(stream_id, expected, e))?;
            first = positions.iter().copied().min();
            last = positions.iter().copied().max();
            if let Some(subject) = &self.config.publish_subject {
                sqlx::query(self.sql.publish_events.clone())
                    .bind(stream_id)
                    .bind(current_i64)
                    .bind(subject)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::database(op))?;
            }
        }
        for m in messages {
            sqlx::query(self.sql.insert_message.clone())
                .bind(m.message_id.to_string())
                .bind(&m.subject)
                .bind(m.payload.as_slice())
                .bind(headers_json(&m.headers).to_string())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::database(op))?;
        }
        tx.commit().await.map_err(StoreError::database(op))?;
        Ok(AppendResult {
            version: current + events.len() as u64,
            first_position: first.map(|p| to_u64("global position", p)).transpose()?,
            last_position: last.map(|p| to_u64("global position", p)).transpose()?,
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(self.sql.read_stream.clone())
            .bind(stream_id)
            .bind(to_i64("version", after_version)?)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::database("reading a stream"))?;
        rows.iter()
            .map(|r| decode_row(r, &self.config.upcasters))
            .collect()
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(self.sql.read_all.clone())
            .bind(to_i64("global position", after_position)?)
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::database("reading all events"))?;
        rows.iter()
            .map(|r| decode_row(r, &self.config.upcasters))
            .collect()
    }

    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        let v: i64 = sqlx::query_scalar(self.sql.stream_version.clone())
            .bind(stream_id)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::database("reading a stream version"))?;
        to_u64("version", v)
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(self.sql.load_snapshot.clone())
            .bind(stream_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::database("loading a snapshot"))?;
        let Some(row) = row else { return Ok(None) };
        let version: i64 = row
            .try_get(0)
            .map_err(StoreError::database("loading a snapshot"))?;
        let state: String = row
            .try_get(1)
            .map_err(StoreError::database("loading a snapshot"))?;
        Ok(Some(Snapshot {
            stream_id: stream_id.to_owned(),
            version: to_u64("snapshot version", version)?,
            state: serde_json::from_str(&state).map_err(|e| StoreError::Corrupt {
                what: "snapshot state",
                detail: e.to_string(),
            })?,
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(self.sql.save_snapshot.clone())
            .bind(&snapshot.stream_id)
            .bind(to_i64("snapshot version", snapshot.version)?)
            .bind(snapshot.state.to_string())
            .execute(&self.pool)
            .await
            .map_err(StoreError::database("saving a snapshot"))?;
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar(self.sql.load_checkpoint.clone())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::database("loading a checkpoint"))?;
        to_u64("checkpoint", v.unwrap_or(0))
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        sqlx::query(self.sql.save_checkpoint.clone())
            .bind(name)
            .bind(to_i64("checkpoint", position)?)
            .execute(&self.pool)
            .await
            .map_err(StoreError::database("saving a checkpoint"))?;
        Ok(())
    }

    fn database(&self) -> &Database {
        &self.db
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }
}
