//! The crash proof: the relay runs as a child process and is killed with SIGKILL in the
//! middle of publishing; after a restart every event reaches the consumer and every effect is
//! applied exactly once (JetStream dedupe on `Nats-Msg-Id` plus the consumer's inbox). The
//! consumer also withholds some acks so JetStream redelivers those messages: the inbox must skip
//! them. Needs PostgreSQL and NATS JetStream; skips with a reason when either is absent.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt;
use mspack_eventstore::{
    Database, EventStore, ExpectedVersion, NewEvent, SqlEventStore, StoreConfig, TablePrefix,
    database_url_from_env,
};
use mspack_outbox::{Inbox, connect_jetstream, ensure_stream, message_id};
use mspack_testkit::nats_url;
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

const APPENDS: u64 = 300;
const EVENTS_PER_APPEND: u64 = 10;
const TOTAL: u64 = APPENDS * EVENTS_PER_APPEND;

fn spawn_relay(prefix: &TablePrefix, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mspack-outbox-relay"))
        .args([
            "--prefix",
            prefix.as_str(),
            "--batch-size",
            "50",
            "--name",
            "relay-1",
            "--progress",
        ])
        .args(extra)
        .env("DATABASE_URL", database_url_from_env())
        .env("NATS_URL", nats_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start mspack-outbox-relay")
}

async fn count(pool: &PgPool, sql: String) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_publish_delivers_every_event_and_applies_each_effect_once() {
    let (Some(pool), Some(_)) = (
        mspack_testkit::postgres_pool().await,
        mspack_testkit::nats().await,
    ) else {
        return;
    };
    let js = connect_jetstream(&nats_url()).await.expect("jetstream");
    let id = &Uuid::new_v4().simple().to_string()[..12];
    let prefix = TablePrefix::new(format!("t{id}_")).expect("prefix");
    let subject = format!("t{id}.events");
    let stream_name = format!("T{id}");

    let config = StoreConfig::new()
        .with_prefix(prefix.clone())
        .publish_events(subject.clone());
    let store = SqlEventStore::new(Database::Postgres(pool.clone()), config)
        .await
        .expect("store");
    for a in 0..APPENDS {
        let events: Vec<NewEvent> = (0..EVENTS_PER_APPEND)
            .map(|i| NewEvent::new("PaymentCaptured", json!({ "append": a, "i": i })))
            .collect();
        store
            .append(&format!("payment-{a}"), ExpectedVersion::NoStream, &events)
            .await
            .expect("append");
    }
    let stream = ensure_stream(&js, &stream_name, vec![format!("{subject}.>")])
        .await
        .expect("stream");

    // The consumer: effects and inbox row in one transaction, then ack. Every 7th message is
    // not acked on its first delivery, so JetStream redelivers it after ack_wait.
    let inbox = Inbox::new(Database::Postgres(pool.clone()), prefix.clone(), "ledger")
        .await
        .expect("inbox");
    sqlx::raw_sql(AssertSqlSafe(
        prefix.render("CREATE TABLE {p}effects (event_id UUID NOT NULL)"),
    ))
    .execute(&pool)
    .await
    .expect("effects table");
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("ledger".to_owned()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(1),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let deliveries = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let consumer_task = {
        let (deliveries, skipped, prefix) = (deliveries.clone(), skipped.clone(), prefix.clone());
        tokio::spawn(async move {
            let mut messages = consumer.messages().await.expect("messages");
            let insert = prefix.render("INSERT INTO {p}effects (event_id) VALUES ($1)");
            while let Some(Ok(msg)) = messages.next().await {
                deliveries.fetch_add(1, Ordering::Relaxed);
                let id = message_id(&msg).expect("every outbox message has an id");
                match inbox.begin(id).await.expect("inbox") {
                    Some(mut tx) => {
                        let conn = tx.tx().as_postgres().expect("postgres inbox");
                        sqlx::query(AssertSqlSafe(insert.clone()))
                            .bind(id)
                            .execute(conn)
                            .await
                            .expect("effect");
                        tx.commit().await.expect("commit");
                    }
                    None => {
                        skipped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let first_delivery = msg.info().map(|i| i.delivered == 1).unwrap_or(true);
                if first_delivery && id.as_u128().is_multiple_of(7) {
                    continue; // "crash" before ack: redelivered later
                }
                msg.ack().await.expect("ack");
            }
        })
    };

    // First, SIGKILL the relay a few times at random moments while it publishes (wherever the
    // kill lands: selecting, publishing, awaiting acks, marking).
    let mut kills = 0;
    for _ in 0..3 {
        let mut relay = spawn_relay(&prefix, &[]);
        let mut lines = BufReader::new(relay.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("relay progress in time")
            .expect("read progress");
        assert!(line.is_some(), "relay exited early");
        let jitter = (Uuid::new_v4().as_u128() % 3000) as u64;
        tokio::time::sleep(Duration::from_micros(jitter)).await;
        relay.start_kill().expect("kill -9");
        let status = relay.wait().await.expect("wait");
        assert!(
            !status.success(),
            "the relay was killed, not finished: {status}"
        );
        kills += 1;
    }
    // Then kill it at the worst moment: JetStream has acknowledged a batch, the rows are not yet
    // marked sent (the relay holds there for 5 s by fault injection).
    let mut relay = spawn_relay(&prefix, &["--hold-before-mark-ms", "5000"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (pending_after_kill, unmarked_at_kill) = loop {
        let pending = count(&pool, prefix.render("SELECT count(*) FROM {p}outbox")).await as u64;
        let mut info_stream = stream.clone();
        let in_stream = info_stream.info().await.expect("info").state.messages;
        let unmarked = in_stream.saturating_sub(TOTAL - pending);
        if unmarked > 0 {
            relay.start_kill().expect("kill -9");
            let status = relay.wait().await.expect("wait");
            assert!(
                !status.success(),
                "the relay was killed, not finished: {status}"
            );
            kills += 1;
            break (pending, unmarked);
        }
        assert!(Instant::now() < deadline, "the relay never published");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        pending_after_kill > 0,
        "the kill must land before everything was published"
    );

    // Restart and wait for every effect.
    let mut relay = spawn_relay(&prefix, &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let effects = count(
            &pool,
            prefix.render("SELECT count(DISTINCT event_id) FROM {p}effects"),
        )
        .await;
        let pending = count(&pool, prefix.render("SELECT count(*) FROM {p}outbox")).await;
        if effects as u64 == TOTAL && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {effects} effects, {pending} pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give withheld acks time to be redelivered (ack_wait 1 s) and skipped by the inbox.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while skipped.load(Ordering::Relaxed) == 0 && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.start_kill().expect("stop relay");
    let _ = relay.wait().await;
    consumer_task.abort();

    let effects = count(&pool, prefix.render("SELECT count(*) FROM {p}effects")).await;
    let distinct = count(
        &pool,
        prefix.render("SELECT count(DISTINCT event_id) FROM {p}effects"),
    )
    .await;
    let matched = count(
        &pool,
        prefix.render(
            "SELECT count(*) FROM {p}events e JOIN {p}effects f ON f.event_id = e.event_id",
        ),
    )
    .await;
    eprintln!(
        "crash test: {TOTAL} events, {kills} kills, {pending_after_kill} pending at the last ({unmarked_at_kill} of them already in the stream), {} deliveries, {} redeliveries skipped by the inbox, {effects} effects",
        deliveries.load(Ordering::Relaxed),
        skipped.load(Ordering::Relaxed)
    );
    assert_eq!(effects as u64, TOTAL, "every effect exactly once");
    assert_eq!(distinct as u64, TOTAL);
    assert_eq!(matched as u64, TOTAL, "every event reached the consumer");
    assert!(
        skipped.load(Ordering::Relaxed) > 0,
        "redeliveries were exercised"
    );
    let mut s = stream.clone();
    assert_eq!(
        s.info().await.expect("info").state.messages,
        TOTAL,
        "broker kept no duplicate"
    );

    js.delete_stream(&stream_name).await.expect("delete stream");
    let _ = store;
    mspack_testkit::drop_prefix(&pool, &prefix).await;
}
