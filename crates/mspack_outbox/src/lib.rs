//! Transactional outbox, relay to NATS JetStream, and inbox for idempotent consumers.
//!
//! The event store writes outbox rows in the same transaction as the events
//! ([`mspack_eventstore::StoreConfig::publish_events`],
//! [`mspack_eventstore::EventStore::append_in`]), and other code adds rows in its own
//! transaction ([`mspack_eventstore::enqueue_in`], [`InboxTransaction::enqueue`]); both check
//! subjects and headers first. A [`Relay`] publishes them to JetStream with the row's message id
//! (the event id for events) as `Nats-Msg-Id`, so the broker drops copies republished after a
//! crash, with the trace context (`traceparent`) and event metadata as headers, in order per
//! ordering key with any number of relays; it parks rows that can never be published as dead
//! letters, survives database and broker failures (reporting [`Health`]), and keeps sent rows
//! for a while so that [`Relay::redrive_sent_since`] can republish what a broker lost.
//!
//! Consumers record each processed message id in an [`Inbox`] in the same transaction as their
//! effects (and their own events, through `append_in` on [`InboxTransaction::tx`]):
//! at-least-once delivery becomes exactly-once effects.
//!
//! Durability: see `docs/consistency.md` for the broker settings the guarantee needs
//! (`sync_interval: always` on nats-server 2.10+, or R3 streams in a cluster).

mod error;
mod health;
mod inbox;
mod nats;
pub mod process;
mod relay;

pub use error::OutboxError;
pub use health::{Backoff, Health, HealthReport, HealthStatus};
pub use inbox::{Claim, Inbox, InboxTransaction};
pub use mspack_eventstore::enqueue_in;
pub use nats::{
    DEFAULT_NATS_URL, StreamSpec, connect_jetstream, ensure, ensure_stream, header, message_id,
    nats_url_from_env,
};
#[cfg(feature = "fault-injection")]
pub use relay::FaultInjection;
pub use relay::{BatchReport, DeadLetter, Relay, RelayConfig};
