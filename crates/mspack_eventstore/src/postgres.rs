//! The PostgreSQL event store: one prepared function call per append, arrays for batches.

use std::sync::Arc;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
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
use crate::store::{EventStore, from_unix_micros, headers_json, sql_limit};
use crate::upcast::Upcasters;

const COLUMNS: &str = "global_position, stream_id, version, event_id, event_type, schema_version, \
    payload, correlation_id, causation_id, traceparent, \
    (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_us";

#[derive(Debug)]
struct Statements {
    append: SqlStr,
    read_stream: SqlStr,
    read_all: SqlStr,
    stream_version: SqlStr,
    load_snapshot: SqlStr,
    save_snapshot: SqlStr,
    load_checkpoint: SqlStr,
    save_checkpoint: SqlStr,
}

/// An [`EventStore`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresEventStore {
    db: Database,
    pool: PgPool,
    config: StoreConfig,
    sql: Arc<Statements>,
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

impl PostgresEventStore {
    /// Connects to `url` and migrates the schema.
    pub async fn connect(url: &str, config: StoreConfig) -> Result<Self, StoreError> {
        match Database::connect_postgres(url).await? {
            Database::Postgres(pool) => Self::new(pool, config).await,
            Database::Sqlite(_) => Err(StoreError::UnsupportedUrl(url.to_owned())),
        }
    }

    /// Uses `pool`, creating or upgrading the tables first (idempotent).
    pub async fn new(pool: PgPool, config: StoreConfig) -> Result<Self, StoreError> {
        let db = Database::Postgres(pool.clone());
        migrate(&db, &config.prefix, COMPONENT, MIGRATIONS).await?;
        let p = &config.prefix;
        let sql = Statements {
            append: sql(p.render(
                "SELECT out_ok, out_version, out_first, out_last \
                 FROM {p}append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )),
            read_stream: sql(p.render(&format!(
                "SELECT {COLUMNS} FROM {{p}}events WHERE stream_id = $1 AND version > $2 \
                 ORDER BY version LIMIT $3"
            ))),
            read_all: sql(p.render(&format!(
                "SELECT {COLUMNS} FROM {{p}}events WHERE global_position > $1 \
                 ORDER BY global_position LIMIT $2"
            ))),
            stream_version: sql(
                p.render("SELECT coalesce(max(version), 0) FROM {p}events WHERE stream_id = $1")
            ),
            load_snapshot: sql(
                p.render("SELECT version, state FROM {p}snapshots WHERE stream_id = $1")
            ),
            save_snapshot: sql(p.render(
                "INSERT INTO {p}snapshots (stream_id, version, state) VALUES ($1, $2, $3) \
                 ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, \
                 state = excluded.state, recorded_at = now() \
                 WHERE {p}snapshots.version < excluded.version",
            )),
            load_checkpoint: sql(p.render("SELECT position FROM {p}checkpoints WHERE name = $1")),
            save_checkpoint: sql(p.render(
                "INSERT INTO {p}checkpoints (name, position) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            )),
        };
        Ok(PostgresEventStore {
            db,
            pool,
            config,
            sql: Arc::new(sql),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn decode_row(row: &PgRow, upcasters: &Upcasters) -> Result<RecordedEvent, StoreError> {
    let get = |e: sqlx::Error| StoreError::Database {
        operation: "decoding an event row",
        source: e,
    };
    let schema_version: i32 = row.try_get("schema_version").map_err(get)?;
    let mut event = RecordedEvent {
        position: to_u64(
            "global position",
            row.try_get("global_position").map_err(get)?,
        )?,
        stream_id: row.try_get("stream_id").map_err(get)?,
        version: to_u64("version", row.try_get("version").map_err(get)?)?,
        event_id: row.try_get("event_id").map_err(get)?,
        event_type: row.try_get("event_type").map_err(get)?,
        schema_version: u32::try_from(schema_version).map_err(|_| StoreError::OutOfRange {
            what: "schema version",
            value: schema_version.into(),
        })?,
        payload: row.try_get("payload").map_err(get)?,
        metadata: Metadata {
            correlation_id: row.try_get("correlation_id").map_err(get)?,
            causation_id: row.try_get("causation_id").map_err(get)?,
            traceparent: row.try_get("traceparent").map_err(get)?,
        },
        recorded_at: from_unix_micros(row.try_get("recorded_us").map_err(get)?),
    };
    upcasters.upcast(&mut event)?;
    Ok(event)
}

fn append_error(stream_id: &str, expected: ExpectedVersion, e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error()
        && let Some(constraint) = db.constraint()
        && constraint.ends_with("events_stream_version")
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

impl EventStore for PostgresEventStore {
    async fn append_with_outbox(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        messages: &[OutboxMessage],
    ) -> Result<AppendResult, StoreError> {
        let expected_i64 = match expected.required() {
            Some(v) => to_i64("expected version", v)?,
            None => -1,
        };
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let mut schema: Vec<i32> = Vec::with_capacity(events.len());
        for e in events {
            schema.push(
                i32::try_from(e.schema_version).map_err(|_| StoreError::OutOfRange {
                    what: "schema version",
                    value: e.schema_version.into(),
                })?,
            );
        }
        let payloads: Vec<Json<&serde_json::Value>> =
            events.iter().map(|e| Json(&e.payload)).collect();
        let correlation: Vec<Option<Uuid>> =
            events.iter().map(|e| e.metadata.correlation_id).collect();
        let causation: Vec<Option<Uuid>> = events.iter().map(|e| e.metadata.causation_id).collect();
        let traceparent: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.metadata.traceparent.as_deref())
            .collect();
        let out_ids: Vec<Uuid> = messages.iter().map(|m| m.message_id).collect();
        let out_subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
        let out_payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
        let out_headers: Vec<Json<serde_json::Value>> = messages
            .iter()
            .map(|m| Json(headers_json(&m.headers)))
            .collect();

        let row = sqlx::query(self.sql.append.clone())
            .bind(stream_id)
            .bind(expected_i64)
            .bind(ids)
            .bind(types)
            .bind(schema)
            .bind(payloads)
            .bind(correlation)
            .bind(causation)
            .bind(traceparent)
            .bind(self.config.publish_subject.as_deref())
            .bind(out_ids)
            .bind(out_subjects)
            .bind(out_payloads)
            .bind(out_headers)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| append_error(stream_id, expected, e))?;
        let db = StoreError::database("reading the append result");
        let ok: bool = row.try_get(0).map_err(db)?;
        let version = to_u64(
            "version",
            row.try_get(1)
                .map_err(StoreError::database("reading the append result"))?,
        )?;
        if !ok {
            return Err(StoreError::Conflict {
                stream: stream_id.to_owned(),
                expected,
                actual: version,
            });
        }
        let first: Option<i64> = row
            .try_get(2)
            .map_err(StoreError::database("reading the append result"))?;
        let last: Option<i64> = row
            .try_get(3)
            .map_err(StoreError::database("reading the append result"))?;
        Ok(AppendResult {
            version,
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
        Ok(Some(Snapshot {
            stream_id: stream_id.to_owned(),
            version: to_u64("snapshot version", version)?,
            state: row
                .try_get(1)
                .map_err(StoreError::database("loading a snapshot"))?,
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(self.sql.save_snapshot.clone())
            .bind(&snapshot.stream_id)
            .bind(to_i64("snapshot version", snapshot.version)?)
            .bind(Json(&snapshot.state))
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
