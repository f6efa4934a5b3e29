//! Writing outbox rows inside a caller's transaction (the event store writes its own).

use std::time::SystemTime;

use mspack_eventstore::{OutboxMessage, TablePrefix};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgConnection, SqliteConnection};

use crate::error::OutboxError;

fn headers_json(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

pub(crate) fn unix_micros(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Adds `messages` to the outbox on `conn`, inside whatever transaction it is in, and wakes
/// the relays (the notification is delivered when the transaction commits).
pub async fn enqueue_postgres(
    conn: &mut PgConnection,
    prefix: &TablePrefix,
    messages: &[OutboxMessage],
) -> Result<(), OutboxError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = messages.iter().map(|m| m.message_id).collect();
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    let headers: Vec<Json<serde_json::Value>> = messages
        .iter()
        .map(|m| Json(headers_json(&m.headers)))
        .collect();
    let sql = prefix.render(
        "WITH ins AS (INSERT INTO {p}outbox (message_id, subject, payload, headers) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::jsonb[]) RETURNING 1) \
         SELECT pg_notify('{p}outbox', '') FROM (SELECT count(*) FROM ins) AS c",
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(ids)
        .bind(subjects)
        .bind(payloads)
        .bind(headers)
        .execute(conn)
        .await
        .map_err(OutboxError::database("enqueueing outbox messages"))?;
    Ok(())
}

/// Adds `messages` to the outbox on `conn`, inside whatever transaction it is in.
pub async fn enqueue_sqlite(
    conn: &mut SqliteConnection,
    prefix: &TablePrefix,
    messages: &[OutboxMessage],
) -> Result<(), OutboxError> {
    let sql = prefix.render(
        "INSERT INTO {p}outbox (message_id, subject, payload, headers, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    );
    let now = unix_micros(SystemTime::now());
    for m in messages {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(m.message_id.to_string())
            .bind(&m.subject)
            .bind(m.payload.as_slice())
            .bind(headers_json(&m.headers).to_string())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(OutboxError::database("enqueueing outbox messages"))?;
    }
    Ok(())
}
