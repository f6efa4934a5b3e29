//! The relay against real PostgreSQL and NATS JetStream (skipped with a reason when absent), the
//! inbox on both backends, and the kill -9 crash test.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use mspack_eventstore::{
    Database, EventStore, ExpectedVersion, Metadata, NewEvent, SqlEventStore, StoreConfig,
    TablePrefix,
};
use mspack_outbox::{
    Inbox, Relay, RelayConfig, connect_jetstream, ensure_stream, header, message_id,
};
use mspack_testkit::{Names, drop_prefix, names, nats_url};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn postgres() -> Option<PgPool> {
    mspack_testkit::postgres_pool().await
}

async fn nats() -> Option<jetstream::Context> {
    mspack_testkit::nats().await?;
    connect_jetstream(&nats_url()).await.ok()
}

async fn pg_store(pool: &PgPool, config: StoreConfig) -> SqlEventStore {
    SqlEventStore::new(Database::Postgres(pool.clone()), config)
        .await
        .expect("store")
}

fn traced_event(n: u64) -> NewEvent {
    NewEvent::new("OrderPlaced", json!({ "order": n })).with_metadata(Metadata {
        correlation_id: Some(Uuid::new_v4()),
        causation_id: None,
        traceparent: Some(TRACEPARENT.to_owned()),
    })
}

async fn fetch_all(stream: &jetstream::stream::Stream, expected: usize) -> Vec<jetstream::Message> {
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: None,
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut got = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(Ok(m))) => got.push(m),
            _ => break,
        }
    }
    got
}

async fn relay_publishes_with_event_id_and_trace_headers(
    db: Database,
    store: impl EventStore,
    n: &Names,
    js: jetstream::Context,
) {
    let stream = ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    let event = traced_event(1);
    store
        .append(
            "order-1",
            ExpectedVersion::NoStream,
            std::slice::from_ref(&event),
        )
        .await
        .expect("append");
    let relay = Relay::new(db, n.prefix.clone(), js.clone(), RelayConfig::default())
        .await
        .expect("relay");
    assert_eq!(relay.pending().await.expect("pending"), 1);
    let report = relay.publish_pending().await.expect("publish");
    assert_eq!((report.published, report.failed), (1, 0));
    assert_eq!(relay.pending().await.expect("pending"), 0);
    let got = fetch_all(&stream, 1).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.subject.as_str(), format!("{}.OrderPlaced", n.subject));
    assert_eq!(message_id(m), Some(event.event_id));
    assert_eq!(header(m, "traceparent"), Some(TRACEPARENT));
    assert_eq!(header(m, "Mspack-Event-Type"), Some("OrderPlaced"));
    assert_eq!(header(m, "Mspack-Stream"), Some("order-1"));
    assert_eq!(header(m, "Mspack-Version"), Some("1"));
    let correlation = event.metadata.correlation_id.map(|c| c.to_string());
    assert_eq!(header(m, "Mspack-Correlation-Id"), correlation.as_deref());
    let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("json body");
    assert_eq!(body, json!({ "order": 1 }));
    js.delete_stream(&n.stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_publishes_with_event_id_and_trace_headers() {
    let (Some(pool), Some(js)) = (postgres().await, nats().await) else {
        return;
    };
    let n = names();
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    let store = pg_store(&pool, config).await;
    relay_publishes_with_event_id_and_trace_headers(
        Database::Postgres(pool.clone()),
        store,
        &n,
        js,
    )
    .await;
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_publishes_with_event_id_and_trace_headers() {
    let Some(js) = nats().await else { return };
    let n = names();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.db");
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    let store = SqlEventStore::open_sqlite(path.to_str().expect("utf-8"), config)
        .await
        .expect("store");
    let db = store.database().clone();
    relay_publishes_with_event_id_and_trace_headers(db, store, &n, js).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_publish_is_retried_with_backoff_until_the_stream_exists() {
    let (Some(pool), Some(js)) = (postgres().await, nats().await) else {
        return;
    };
    let n = names();
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    let store = pg_store(&pool, config).await;
    store
        .append("o", ExpectedVersion::NoStream, &[traced_event(1)])
        .await
        .expect("append");
    let relay_config = RelayConfig {
        initial_backoff: Duration::from_millis(1500),
        ..RelayConfig::default()
    };
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        n.prefix.clone(),
        js.clone(),
        relay_config,
    )
    .await
    .expect("relay");
    // No stream captures the subject yet: the row waits (a missing stream is the deployment's
    // problem, not the row's, so it does not count as an attempt toward the dead letters).
    let first = relay.publish_pending().await.expect("pass");
    assert_eq!((first.published, first.failed), (0, 1));
    let (attempts, error): (i32, Option<String>) = sqlx::query_as(AssertSqlSafe(
        n.prefix
            .render("SELECT attempts, last_error FROM {p}outbox"),
    ))
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(attempts, 0);
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("no JetStream stream")),
        "{error:?}"
    );
    // Not due again before the backoff elapses.
    let early = relay.publish_pending().await.expect("pass");
    assert_eq!(early.failed + early.published, 0);
    let stream = ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let later = relay.publish_pending().await.expect("pass");
    assert_eq!(later.published, 1);
    assert_eq!(fetch_all(&stream, 1).await.len(), 1);
    js.delete_stream(&n.stream).await.expect("delete stream");
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republished_row_is_dropped_by_jetstream_dedupe() {
    let (Some(pool), Some(js)) = (postgres().await, nats().await) else {
        return;
    };
    let n = names();
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    let store = pg_store(&pool, config).await;
    let stream = ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    store
        .append(
            "o",
            ExpectedVersion::NoStream,
            &[traced_event(1), traced_event(2)],
        )
        .await
        .expect("append");
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        n.prefix.clone(),
        js.clone(),
        RelayConfig::default(),
    )
    .await
    .expect("relay");
    let before = std::time::SystemTime::now() - Duration::from_secs(1);
    assert_eq!(relay.publish_pending().await.expect("pass").published, 2);
    let kept: i64 = sqlx::query_scalar(AssertSqlSafe(
        n.prefix.render("SELECT count(*) FROM {p}outbox_sent"),
    ))
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(kept, 2, "sent rows are kept in the archive");
    // Publish them again, as after a crash between the publish and marking them sent.
    assert_eq!(relay.redrive_sent_since(before).await.expect("redrive"), 2);
    let again = relay.publish_pending().await.expect("pass");
    assert_eq!((again.published, again.duplicates), (2, 2));
    assert!(relay.purge_sent(Duration::ZERO).await.expect("purge") >= 2);
    let mut info = stream.clone();
    assert_eq!(info.info().await.expect("info").state.messages, 2);
    js.delete_stream(&n.stream).await.expect("delete stream");
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_wakes_on_notify_and_publishes_within_milliseconds() {
    let (Some(pool), Some(js)) = (postgres().await, nats().await) else {
        return;
    };
    let n = names();
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    let store = pg_store(&pool, config).await;
    ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    let client = async_nats::connect(nats_url()).await.expect("nats");
    let mut sub = client
        .subscribe(format!("{}.>", n.subject))
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    // A long poll interval: only NOTIFY can explain a fast publish.
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        n.prefix.clone(),
        js.clone(),
        RelayConfig {
            poll_interval: Some(Duration::from_secs(30)),
            ..RelayConfig::default()
        },
    )
    .await
    .expect("relay");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        relay
            .run(
                async {
                    let _ = stop_rx.await;
                },
                |_| {},
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // let it LISTEN and go idle
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        store
            .append(
                &format!("o{i}"),
                ExpectedVersion::NoStream,
                &[traced_event(i)],
            )
            .await
            .expect("append");
        let committed = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
        assert!(
            matches!(got, Ok(Some(_))),
            "message {i} not published within 5 s"
        );
        worst = worst.max(committed.elapsed());
    }
    eprintln!("worst commit->receive latency over 20 appends: {worst:?}");
    assert!(worst < Duration::from_millis(500), "{worst:?}");
    let _ = stop_tx.send(());
    task.await.expect("join");
    js.delete_stream(&n.stream).await.expect("delete stream");
    drop_prefix(&pool, &n.prefix).await;
}

async fn inbox_applies_a_redelivered_message_once(db: Database, prefix: TablePrefix) {
    let inbox = Inbox::new(db, prefix, "kitchen").await.expect("inbox");
    let id = Uuid::new_v4();
    let tx = inbox
        .begin(id)
        .await
        .expect("begin")
        .expect("first delivery");
    drop(tx); // crashed before commit: the message is not processed
    assert!(!inbox.is_processed(id).await.expect("read"));
    let tx = inbox
        .begin(id)
        .await
        .expect("begin")
        .expect("redelivery after rollback");
    tx.commit().await.expect("commit");
    assert!(inbox.is_processed(id).await.expect("read"));
    assert!(
        inbox.begin(id).await.expect("begin").is_none(),
        "second delivery must be skipped"
    );
    let other = Inbox::new(inbox.database().clone(), inbox.prefix().clone(), "billing")
        .await
        .expect("inbox");
    assert!(
        other.begin(id).await.expect("begin").is_some(),
        "inboxes are per consumer"
    );
}

#[tokio::test]
async fn sqlite_inbox_applies_a_redelivered_message_once() {
    let db = Database::sqlite_in_memory().await.expect("sqlite");
    inbox_applies_a_redelivered_message_once(db, names().prefix).await;
}

#[tokio::test]
async fn postgres_inbox_applies_a_redelivered_message_once() {
    let Some(pool) = postgres().await else { return };
    let db = Database::Postgres(pool.clone());
    let prefix = names().prefix;
    inbox_applies_a_redelivered_message_once(db, prefix.clone()).await;
    drop_prefix(&pool, &prefix).await;
}

/// SQLite gives a new row the id after the highest one left, so once the outbox is empty ids
/// repeat: the archive must not care (it once refused the second row with id 1, and the relay
/// then failed every pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_keeps_delivering_after_the_outbox_empties() {
    let Some(js) = nats().await else { return };
    let n = names();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    let store =
        SqlEventStore::open_sqlite(dir.path().join("s.db").to_str().expect("utf-8"), config)
            .await
            .expect("store");
    let stream = ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    let relay = Relay::new(
        store.database().clone(),
        n.prefix.clone(),
        js.clone(),
        RelayConfig::default(),
    )
    .await
    .expect("relay");
    for i in 0..3 {
        store
            .append(
                &format!("o{i}"),
                ExpectedVersion::NoStream,
                &[traced_event(i)],
            )
            .await
            .expect("append");
        let report = relay.publish_pending().await.expect("pass");
        assert_eq!(report.published, 1, "round {i}");
    }
    assert_eq!(fetch_all(&stream, 3).await.len(), 3);
    js.delete_stream(&n.stream).await.expect("delete stream");
}
