//! Transactional outbox, relay to NATS JetStream, and inbox for idempotent consumers.
//!
//! The event store writes outbox rows in the same transaction as the events
//! ([`mspack_eventstore::StoreConfig::publish_events`],
//! [`mspack_eventstore::EventStore::append_with_outbox`]), and other code can add rows in its own
//! transaction ([`enqueue_postgres`], [`enqueue_sqlite`], [`InboxTransaction::enqueue`]). A
//! [`Relay`] publishes them to JetStream with the row's message id (the event id for events) as
//! `Nats-Msg-Id`, so the broker drops copies republished after a crash, and with the trace
//! context (`traceparent`) and event metadata as headers. It marks rows sent, retries failures
//! with exponential backoff, and wakes on PostgreSQL `LISTEN/NOTIFY` (SQLite is polled).
//!
//! Consumers record each processed message id in an [`Inbox`] in the same transaction as their
//! effects: at-least-once delivery becomes exactly-once effects.
//!
//! Durability on this stack: PostgreSQL commits are durable; SQLite runs with
//! `synchronous = FULL`; JetStream streams are file-backed, but nats-server before 2.10 (Debian's
//! 2.9.10) flushes to disk on a timer, so an OS crash or power loss of the broker host can lose
//! acknowledged messages from the last moments (a server process crash does not).

mod enqueue;
mod error;
mod inbox;
mod nats;
pub mod process;
mod relay;

pub use enqueue::{enqueue_postgres, enqueue_sqlite};
pub use error::OutboxError;
pub use inbox::{Inbox, InboxTransaction};
pub use nats::{
    DEFAULT_NATS_URL, connect_jetstream, ensure_stream, header, message_id, nats_url_from_env,
};
pub use relay::{BatchReport, Relay, RelayConfig};
