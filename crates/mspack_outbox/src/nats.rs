//! Connecting to NATS JetStream and the stream the outbox publishes into.

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

/// Connects to NATS at `url` and returns its JetStream context.
pub async fn connect_jetstream(url: &str) -> Result<jetstream::Context, OutboxError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .map_err(OutboxError::nats("connecting"))?;
    Ok(jetstream::new(client))
}

/// Creates (or finds) a file-backed stream `name` capturing `subjects`, with a duplicate window
/// of two minutes: a message republished with the same `Nats-Msg-Id` within it is dropped.
///
/// Durability: the stream is stored in files, but nats-server before 2.10 (Debian bookworm ships
/// 2.9.10) flushes them to disk on a timer, so a power loss can lose the last acknowledged
/// messages; a process crash of the server cannot.
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: Vec<String>,
) -> Result<jetstream::stream::Stream, OutboxError> {
    let config = stream::Config {
        name: name.to_owned(),
        subjects,
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    // nats-server 2.9 can fail a create while another client deletes the account's last stream
    // (it removes the directory the new stream needs); such a failure is transient, so retry.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match js.get_or_create_stream(config.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(_) if attempt < 5 => {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(OutboxError::nats("creating a stream")(e)),
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
