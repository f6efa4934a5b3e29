//! Connecting to NATS JetStream and the streams the outbox publishes into.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use uuid::Uuid;

use crate::error::OutboxError;

/// The NATS URL used when `NATS_URL` is not set.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// `NATS_URL` from the environment, or [`DEFAULT_NATS_URL`].
pub fn nats_url_from_env() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.to_owned())
}

/// Connects to NATS at `url` and returns its JetStream context. The client reconnects by
/// itself after a broker restart, forever; publishes made meanwhile fail and are retried.
pub async fn connect_jetstream(url: &str) -> Result<jetstream::Context, OutboxError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(url)
        .await
        .map_err(OutboxError::nats("connecting"))?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .build(client))
}

/// What a stream the outbox publishes into must be: file storage (a memory stream loses every
/// message on a server restart), a duplicate window at least as long as the longest time a
/// republished copy can follow the original (default 2 minutes), and a number of replicas (3 in a
/// cluster survives the loss of one node's disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: String,
    /// Subjects it captures.
    pub subjects: Vec<String>,
    /// Messages republished with the same `Nats-Msg-Id` within this window are dropped.
    pub duplicate_window: Duration,
    /// Replicas (1 on a single server; 3 in a 3-node cluster).
    pub replicas: usize,
}

impl StreamSpec {
    /// A file-backed stream with one replica and a 2-minute duplicate window.
    pub fn new(name: impl Into<String>, subjects: Vec<String>) -> Self {
        StreamSpec {
            name: name.into(),
            subjects,
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }

    /// Sets the number of replicas.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// Sets the duplicate window.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            storage: stream::StorageType::File,
            duplicate_window: self.duplicate_window,
            num_replicas: self.replicas,
            ..Default::default()
        }
    }
}

/// Creates (or finds) a file-backed stream `name` capturing `subjects`, with a duplicate window
/// of two minutes; see [`ensure`].
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: Vec<String>,
) -> Result<jetstream::stream::Stream, OutboxError> {
    ensure(js, &StreamSpec::new(name, subjects)).await
}

/// Creates the stream of `spec`, or checks an existing one: memory storage is refused; a shorter
/// duplicate window, fewer replicas or missing subjects are raised to the spec (and refused if the
/// server won't). Durability beyond that is the server's: see `docs/consistency.md` for
/// `sync_interval: always` or R3 streams.
pub async fn ensure(
    js: &jetstream::Context,
    spec: &StreamSpec,
) -> Result<jetstream::stream::Stream, OutboxError> {
    if let Ok(mut existing) = js.get_stream(&spec.name).await {
        let info = existing
            .info()
            .await
            .map_err(OutboxError::nats("reading a stream's configuration"))?;
        let mut config = info.config.clone();
        let mismatch = |problem: String| OutboxError::StreamMismatch {
            stream: spec.name.clone(),
            problem,
        };
        if config.storage != stream::StorageType::File {
            return Err(mismatch(
                "uses memory storage, which loses every message on a server restart; recreate \
                 it with file storage"
                    .to_owned(),
            ));
        }
        let mut changed = false;
        if config.duplicate_window < spec.duplicate_window {
            config.duplicate_window = spec.duplicate_window;
            changed = true;
        }
        if config.num_replicas < spec.replicas {
            config.num_replicas = spec.replicas;
            changed = true;
        }
        for subject in &spec.subjects {
            if !config.subjects.iter().any(|s| covers(s, subject)) {
                // A wider subject replaces the narrower ones it covers (JetStream refuses
                // overlapping subjects in one stream).
                config.subjects.retain(|s| !covers(subject, s));
                config.subjects.push(subject.clone());
                changed = true;
            }
        }
        if !changed {
            return Ok(existing);
        }
        js.update_stream(config).await.map_err(|e| {
            mismatch(format!(
                "is configured below what the outbox needs (duplicate window {:?}, replicas {}, \
                 subjects {:?}) and could not be raised: {e}",
                spec.duplicate_window, spec.replicas, spec.subjects
            ))
        })?;
        return js
            .get_stream(&spec.name)
            .await
            .map_err(OutboxError::nats("finding a stream"));
    }
    // nats-server 2.9 can fail a create while another client deletes the account's last stream
    // (it removes the directory the new stream needs); such a failure is transient, so retry.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match js.get_or_create_stream(spec.config()).await {
            Ok(stream) => return Ok(stream),
            Err(_) if attempt < 5 => {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(OutboxError::nats("creating a stream")(e)),
        }
    }
}

/// Whether NATS subject pattern `pattern` matches every subject `subject` can match (`*` one
/// token, `>` the rest).
fn covers(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The `Nats-Msg-Id` of a received message as a UUID (the outbox always sends one).
pub fn message_id(message: &async_nats::Message) -> Option<Uuid> {
    let value = message.headers.as_ref()?.get("Nats-Msg-Id")?;
    Uuid::parse_str(value.as_str()).ok()
}

/// A header of a received message.
pub fn header<'m>(message: &'m async_nats::Message, name: &str) -> Option<&'m str> {
    Some(message.headers.as_ref()?.get(name)?.as_str())
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wider_subjects_cover_narrower_ones() {
        assert!(covers("a.>", "a.b"));
        assert!(covers("a.>", "a.b.>"));
        assert!(covers("a.*", "a.b"));
        assert!(covers("a.b", "a.b"));
        assert!(!covers("a.*", "a.b.c"));
        assert!(!covers("a.*", "a.>"));
        assert!(!covers("a.b", "a.>"));
        assert!(!covers("a.>", "a"));
    }
}
