//! Publishing one batch: building each message fallibly, sending them pipelined, and saying what
//! became of every row.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{
    GetStreamByNameErrorKind, PublishAckFuture, PublishErrorKind,
};
use async_nats::jetstream::message::PublishMessage;
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use futures_util::future::join_all;
use mspack_eventstore::sql::SqlRow;
use mspack_eventstore::validate::{check_header, check_subject};

use super::Relay;
use crate::error::OutboxError;

/// A pending outbox row as read by the relay.
#[derive(Debug)]
pub(crate) struct PendingRow {
    pub id: i64,
    pub message_id: String,
    pub subject: String,
    pub payload: Vec<u8>,
    pub headers: Result<serde_json::Value, String>,
    pub key: String,
    pub attempts: i64,
    pub created_us: i64,
    /// The row is the head of its key's block (an earlier attempt failed).
    pub blocked_head: bool,
}

impl PendingRow {
    pub fn decode(row: &SqlRow) -> Result<Self, OutboxError> {
        Ok(PendingRow {
            id: row.int(0, "outbox id")?,
            message_id: row.text(1, "message id")?,
            subject: row.text(2, "subject")?,
            payload: row.bytes(3, "payload")?,
            // A row whose headers don't parse is one poison row, not a failed batch.
            headers: row.json(4, "headers").map_err(|e| e.to_string()),
            key: row.text(5, "ordering key")?,
            attempts: row.int(6, "attempts")?,
            created_us: row.int(7, "created at")?,
            blocked_head: row.bool(8, "blocked head")?,
        })
    }
}

/// What became of one row in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowOutcome {
    /// Not tried: an earlier row of its key failed in this pass.
    Skipped,
    /// Acknowledged by JetStream.
    Sent {
        /// JetStream already had it (a republish after a crash).
        duplicate: bool,
    },
    /// Can never be published as stored: dead-letter it now.
    Dead(String),
    /// The broker refused it: counts as an attempt.
    Retry(String),
    /// The broker is unreachable or has no stream for the subject: try again later without
    /// counting an attempt.
    Wait(String),
}

/// Headers of a row as NATS headers, or why they can't be.
fn headers(row: &PendingRow) -> Result<HeaderMap, String> {
    let json = row.headers.as_ref().map_err(Clone::clone)?;
    let mut map = HeaderMap::new();
    let serde_json::Value::Object(object) = json else {
        return Err(format!("headers are not a JSON object: {json}"));
    };
    for (name, value) in object {
        let Some(value) = value.as_str() else {
            return Err(format!("header {name} is not a string: {value}"));
        };
        check_header(name, value)?;
        let name = HeaderName::from_str(name).map_err(|e| format!("header {name:?}: {e}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|e| format!("header value {value:?}: {e}"))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Why a row can never be published as stored, if it can't.
fn permanent_problem(row: &PendingRow, max_payload: usize) -> Option<String> {
    if let Err(e) = check_subject(&row.subject) {
        return Some(e);
    }
    if uuid::Uuid::parse_str(&row.message_id).is_err() {
        return Some(format!("message id {:?} is not a UUID", row.message_id));
    }
    let header_bytes = match &row.headers {
        Ok(serde_json::Value::Object(h)) => h
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len) + 4)
            .sum::<usize>(),
        _ => 0,
    };
    // NATS/1.0 line, Nats-Msg-Id and the separators: a conservative 128 bytes.
    let size = row.payload.len() + header_bytes + 128;
    if size > max_payload {
        return Some(format!(
            "message of {size} bytes exceeds the server's max_payload of {max_payload} bytes"
        ));
    }
    None
}

fn classify(kind: PublishErrorKind, error: String) -> RowOutcome {
    match kind {
        PublishErrorKind::MaxPayloadExceeded => RowOutcome::Dead(error),
        PublishErrorKind::StreamNotFound
        | PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe => RowOutcome::Wait(error),
        _ => RowOutcome::Retry(error),
    }
}

/// How long a subject known to have a stream is not looked up again.
const STREAM_CACHE: Duration = Duration::from_secs(30);

impl Relay {
    /// Whether some stream captures `subject` (cached for a while when it does).
    async fn has_stream(&self, subject: &str) -> Result<bool, String> {
        if self
            .state()
            .streams_seen
            .get(subject)
            .is_some_and(|at| at.elapsed() < STREAM_CACHE)
        {
            return Ok(true);
        }
        match self.js.stream_by_subject(subject).await {
            Ok(_) => {
                self.state()
                    .streams_seen
                    .insert(subject.to_owned(), Instant::now());
                Ok(true)
            }
            Err(e) if e.kind() == GetStreamByNameErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("looking up the stream of {subject}: {e}")),
        }
    }

    /// Sends every row that can go (in order, pipelined), then awaits all acknowledgements.
    /// Once a row of a key is held back, the later rows of that key are not sent in this pass.
    pub(crate) async fn publish(&self, rows: &[PendingRow]) -> Vec<RowOutcome> {
        let max_payload = self.js.client().server_info().max_payload;
        let mut outcomes = vec![RowOutcome::Skipped; rows.len()];
        let mut held: HashSet<&str> = HashSet::new();
        let mut acks: Vec<(usize, PublishAckFuture)> = Vec::with_capacity(rows.len());
        let mut missing_stream = false;
        for (i, row) in rows.iter().enumerate() {
            if held.contains(row.key.as_str()) {
                continue;
            }
            let max = if max_payload == 0 {
                usize::MAX
            } else {
                max_payload
            };
            if let Some(problem) = permanent_problem(row, max) {
                outcomes[i] = RowOutcome::Dead(problem);
                continue;
            }
            let headers = match headers(row) {
                Ok(h) => h,
                Err(problem) => {
                    outcomes[i] = RowOutcome::Dead(problem);
                    continue;
                }
            };
            match self.has_stream(&row.subject).await {
                Ok(true) => {}
                Ok(false) => {
                    missing_stream = true;
                    outcomes[i] = RowOutcome::Wait(format!(
                        "no JetStream stream captures subject {}",
                        row.subject
                    ));
                    held.insert(&row.key);
                    continue;
                }
                Err(e) => {
                    outcomes[i] = RowOutcome::Wait(e);
                    held.insert(&row.key);
                    continue;
                }
            }
            let message = PublishMessage::build()
                .payload(row.payload.clone().into())
                .headers(headers)
                .message_id(&row.message_id);
            match self.js.send_publish(row.subject.clone(), message).await {
                Ok(ack) => acks.push((i, ack)),
                Err(e) => {
                    outcomes[i] = classify(e.kind(), e.to_string());
                    held.insert(&row.key);
                }
            }
        }
        let results = join_all(
            acks.into_iter()
                .map(|(i, ack)| async move { (i, ack.await) }),
        )
        .await;
        let mut failed_keys: HashSet<&str> = HashSet::new();
        for (i, result) in results {
            let row = &rows[i];
            outcomes[i] = match result {
                Ok(ack) => {
                    if failed_keys.contains(row.key.as_str()) {
                        // An earlier row of this key failed after it was sent and this one
                        // went through: the key is out of order on the broker. Validation
                        // before sending makes this rare; count it so it is seen.
                        self.metrics.reordered();
                    }
                    RowOutcome::Sent {
                        duplicate: ack.duplicate,
                    }
                }
                Err(e) => {
                    failed_keys.insert(&row.key);
                    if e.kind() == PublishErrorKind::StreamNotFound {
                        missing_stream = true;
                        self.state().streams_seen.remove(&row.subject);
                    }
                    classify(e.kind(), e.to_string())
                }
            };
        }
        if missing_stream && !self.config.streams.is_empty() {
            // A broker that lost its data lost its streams too: put back the configured ones.
            let _ = self.ensure_streams().await;
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(subject: &str, headers: serde_json::Value, payload: usize) -> PendingRow {
        PendingRow {
            id: 1,
            message_id: uuid::Uuid::nil().to_string(),
            subject: subject.to_owned(),
            payload: vec![b'x'; payload],
            headers: Ok(headers),
            key: "k".to_owned(),
            attempts: 0,
            created_us: 0,
            blocked_head: false,
        }
    }

    #[test]
    fn malformed_headers_are_a_problem_not_a_panic() {
        let bad = [
            serde_json::json!({ "bad name": "v" }),
            serde_json::json!({ "traceparent": "a\r\nInjected: yes" }),
            serde_json::json!({ "n": 1 }),
            serde_json::json!(["not", "an", "object"]),
        ];
        for h in bad {
            assert!(headers(&row("a.b", h.clone(), 1)).is_err(), "{h} accepted");
        }
        let ok = headers(&row("a.b", serde_json::json!({ "traceparent": "00-x" }), 1));
        assert!(ok.is_ok());
    }

    #[test]
    fn unpublishable_rows_are_recognised_before_sending() {
        let headers = serde_json::json!({});
        assert!(permanent_problem(&row("a.b", headers.clone(), 10), 1024).is_none());
        assert!(permanent_problem(&row("a b", headers.clone(), 10), 1024).is_some());
        assert!(permanent_problem(&row("a.*", headers.clone(), 10), 1024).is_some());
        assert!(permanent_problem(&row("a.b", headers, 2000), 1024).is_some());
    }
}
