//! Writing outbox rows: the one place that inserts into the outbox, used by appends and by any
//! code that sends a message in its own transaction (replies, commands, integration events).

use sqlx::types::Json;
use sqlx::{AssertSqlSafe, SqlSafeStr};
use uuid::Uuid;

use crate::config::TablePrefix;
use crate::error::StoreError;
use crate::event::OutboxMessage;
use crate::schema::outbox_partition;
use crate::sql::{Arg, Sql, Tx};
use crate::validate::check_message;

/// Headers as the JSON object stored in the outbox.
pub(crate) fn headers_json(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// Checks `messages` (subject, headers, ordering key) and adds them to the outbox inside `tx`:
/// they are published only if `tx` commits. On PostgreSQL the relays are woken when it does.
pub async fn enqueue_in(
    tx: &mut Tx,
    prefix: &TablePrefix,
    messages: &[OutboxMessage],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    for m in messages {
        check_message(m).map_err(|reason| StoreError::Invalid {
            stream: String::new(),
            reason: format!("outbox message {}: {reason}", m.message_id),
        })?;
    }
    let op = "enqueueing outbox messages";
    match tx {
        Tx::Postgres(pg) => {
            let arrays = OutboxArrays::new(messages);
            let sql = AssertSqlSafe(prefix.render(
                "SELECT {p}enqueue($1::uuid[], $2::text[], $3::bytea[], $4::jsonb[], \
                 $5::text[], $6::int[])",
            ))
            .into_sql_str();
            sqlx::query(sql)
                .bind(arrays.ids)
                .bind(arrays.subjects)
                .bind(arrays.payloads)
                .bind(arrays.headers)
                .bind(arrays.keys)
                .bind(arrays.partitions)
                .execute(&mut **pg)
                .await
                .map_err(StoreError::database(op))?;
        }
        Tx::Sqlite(_) => {
            let insert = Sql::both(
                prefix,
                "INSERT INTO {p}outbox (message_id, subject, payload, headers, ordering_key, \
                 partition, created_us) VALUES ($1, $2, $3, $4, $5, $6, {now_us})",
            );
            for m in messages {
                let id = m.message_id.to_string();
                let headers = headers_json(&m.headers).to_string();
                let key = m.key();
                tx.execute(
                    &insert,
                    &[
                        Arg::from(id.as_str()),
                        Arg::from(m.subject.as_str()),
                        Arg::from(m.payload.as_slice()),
                        Arg::from(headers.as_str()),
                        Arg::from(key),
                        Arg::from(outbox_partition(key)),
                    ],
                )
                .await
                .map_err(StoreError::database(op))?;
            }
        }
    }
    Ok(())
}

/// Messages as the column arrays the PostgreSQL `enqueue` and `append` functions take.
pub(crate) struct OutboxArrays<'m> {
    pub ids: Vec<Uuid>,
    pub subjects: Vec<&'m str>,
    pub payloads: Vec<&'m [u8]>,
    pub headers: Vec<Json<serde_json::Value>>,
    pub keys: Vec<&'m str>,
    pub partitions: Vec<i32>,
}

impl<'m> OutboxArrays<'m> {
    pub fn new(messages: &'m [OutboxMessage]) -> Self {
        OutboxArrays {
            ids: messages.iter().map(|m| m.message_id).collect(),
            subjects: messages.iter().map(|m| m.subject.as_str()).collect(),
            payloads: messages.iter().map(|m| m.payload.as_slice()).collect(),
            headers: messages
                .iter()
                .map(|m| Json(headers_json(&m.headers)))
                .collect(),
            keys: messages.iter().map(OutboxMessage::key).collect(),
            partitions: messages
                .iter()
                .map(|m| i32::try_from(outbox_partition(m.key())).unwrap_or(0))
                .collect(),
        }
    }
}
