//! Failure paths of the outbox, each a regression test of a reproduced defect: poison rows that
//! stalled the relay, rows retried forever, several relays (and one relay after a failure)
//! reordering a stream, a relay that stopped on the first database or broker error, a broker
//! that lost acknowledged messages, streams configured below the guarantees, and an inbox that
//! could not cover event-sourced effects. Against the real PostgreSQL and NATS (required under
//! CI=true); the broker-restart and data-loss tests run a private nats-server 2.15.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use mspack_eventstore::{
    Aggregate, Database, DomainEvent, EventStore, ExpectedVersion, Metadata, NewEvent, Repository,
    SqlEventStore, StoreConfig, TablePrefix, outbox_partition,
};
use mspack_outbox::{
    Claim, HealthStatus, Inbox, OutboxError, Relay, RelayConfig, StreamSpec, connect_jetstream,
    ensure, ensure_stream, header,
};
use mspack_testkit::{Names, NatsServer, drop_prefix, eventually, names, nats_url};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

async fn servers() -> Option<(PgPool, jetstream::Context)> {
    let pool = mspack_testkit::postgres_pool().await?;
    mspack_testkit::nats().await?;
    let js = connect_jetstream(&nats_url()).await.expect("jetstream");
    Some((pool, js))
}

async fn pg_store(pool: &PgPool, n: &Names) -> SqlEventStore {
    let config = StoreConfig::new()
        .with_prefix(n.prefix.clone())
        .publish_events(n.subject.clone());
    SqlEventStore::new(Database::Postgres(pool.clone()), config)
        .await
        .expect("store")
}

fn fast() -> RelayConfig {
    RelayConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RelayConfig::default()
    }
}

/// Inserts a row the way an older version (or a hand-written INSERT) could have, bypassing the
/// checks that appends now make.
async fn insert_raw(
    db: &Database,
    prefix: &TablePrefix,
    subject: &str,
    payload: &[u8],
    headers: serde_json::Value,
    key: &str,
) {
    let id = Uuid::now_v7().to_string();
    let headers = headers.to_string();
    let partition = outbox_partition(key);
    match db {
        Database::Postgres(pool) => {
            sqlx::query(AssertSqlSafe(prefix.render(
                "INSERT INTO {p}outbox (message_id, subject, payload, headers, ordering_key, partition) \
                 VALUES ($1::uuid, $2, $3, $4::jsonb, $5, $6)",
            )))
            .bind(id)
            .bind(subject)
            .bind(payload)
            .bind(headers)
            .bind(key)
            .bind(i32::try_from(partition).expect("partition"))
            .execute(pool)
            .await
            .map(|_| ())
        }
        Database::Sqlite(pool) => {
            sqlx::query(AssertSqlSafe(prefix.render(
                "INSERT INTO {p}outbox (message_id, subject, payload, headers, ordering_key, partition, created_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )))
            .bind(id)
            .bind(subject)
            .bind(payload)
            .bind(headers)
            .bind(key)
            .bind(partition)
            .execute(pool)
            .await
            .map(|_| ())
        }
    }
    .expect("raw outbox row");
}

/// Every message of `stream` in stream order (waiting up to 10 s for `expected` of them).
async fn read_stream(
    js: &jetstream::Context,
    stream: &str,
    expected: usize,
) -> Vec<jetstream::Message> {
    let stream = js.get_stream(stream).await.expect("stream");
    let consumer = stream
        .create_consumer(pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut got = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
            Ok(Some(Ok(m))) => got.push(m),
            _ => break,
        }
    }
    got
}

async fn drain(relay: &Relay) {
    for _ in 0..200 {
        relay.publish_pending().await.expect("pass");
        if relay.pending().await.expect("pending") == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("the outbox never drained");
}

// --- defect 1: poison rows ---------------------------------------------------------------------

async fn poison_rows_are_parked_and_the_rest_delivered(
    db: Database,
    n: &Names,
    js: &jetstream::Context,
) {
    // The store's tables, then rows that once made the relay panic in async-nats' header
    // conversion, between good ones.
    SqlEventStore::new(db.clone(), StoreConfig::new().with_prefix(n.prefix.clone()))
        .await
        .expect("store");
    ensure_stream(js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    let s = |t: &str| format!("{}.{t}", n.subject);
    insert_raw(&db, &n.prefix, &s("good"), b"1", json!({}), "a").await;
    insert_raw(
        &db,
        &n.prefix,
        &s("bad"),
        b"x",
        json!({ "bad name": "v" }),
        "b",
    )
    .await;
    insert_raw(&db, &n.prefix, &s("good"), b"2", json!({}), "c").await;
    insert_raw(
        &db,
        &n.prefix,
        &s("bad"),
        b"y",
        json!({ "traceparent": "00-x\r\nInjected: yes" }),
        "d",
    )
    .await;
    insert_raw(
        &db,
        &n.prefix,
        &s("good"),
        b"3",
        json!({ "Mspack-Stream": "b" }),
        "b",
    )
    .await;
    insert_raw(
        &db,
        &n.prefix,
        "bad subject.with space",
        b"z",
        json!({}),
        "e",
    )
    .await;

    let relay = Relay::new(db.clone(), n.prefix.clone(), js.clone(), fast())
        .await
        .expect("relay");
    drain(&relay).await;
    let got = read_stream(js, &n.stream, 3).await;
    let bodies: Vec<&[u8]> = got.iter().map(|m| m.payload.as_ref()).collect();
    assert_eq!(
        bodies,
        [b"1".as_ref(), b"2", b"3"],
        "the good rows, in order"
    );
    let dead = relay.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(
        dead.iter()
            .all(|d| d.last_error.is_some() && d.attempts == 1)
    );
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("bad name"))
    );
    assert!(
        dead[1]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("CR or LF"))
    );
    assert!(
        dead[2]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not publishable"))
    );
    // A new relay (a restart) finds nothing left to choke on.
    let again = Relay::new(db, n.prefix.clone(), js.clone(), fast())
        .await
        .expect("relay");
    assert_eq!(again.publish_pending().await.expect("pass").published, 0);
    js.delete_stream(&n.stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_rows_are_parked_and_the_rest_delivered_postgres() {
    let Some((pool, js)) = servers().await else {
        return;
    };
    let n = names();
    poison_rows_are_parked_and_the_rest_delivered(Database::Postgres(pool.clone()), &n, &js).await;
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_rows_are_parked_and_the_rest_delivered_sqlite() {
    let Some(_) = mspack_testkit::nats().await else {
        return;
    };
    let js = connect_jetstream(&nats_url()).await.expect("jetstream");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open_sqlite(dir.path().join("o.db"))
        .await
        .expect("sqlite");
    poison_rows_are_parked_and_the_rest_delivered(db, &names(), &js).await;
}

// --- defect 2: dead letters ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_rows_are_dead_lettered_after_max_attempts_counted_and_redriven() {
    let Some((pool, js)) = servers().await else {
        return;
    };
    let n = names();
    let db = Database::Postgres(pool.clone());
    SqlEventStore::new(db.clone(), StoreConfig::new().with_prefix(n.prefix.clone()))
        .await
        .expect("store");
    // A stream that refuses messages over 256 bytes: the broker says no to this row every time.
    js.create_stream(stream::Config {
        name: n.stream.clone(),
        subjects: vec![format!("{}.>", n.subject)],
        max_message_size: 256,
        ..Default::default()
    })
    .await
    .expect("stream");
    let big = vec![b'x'; 500];
    insert_raw(
        &db,
        &n.prefix,
        &format!("{}.big", n.subject),
        &big,
        json!({}),
        "k",
    )
    .await;
    // And one over the server's max_payload (1 MiB): never sent at all.
    let huge = vec![b'x'; 2 * 1024 * 1024];
    insert_raw(
        &db,
        &n.prefix,
        &format!("{}.huge", n.subject),
        &huge,
        json!({}),
        "h",
    )
    .await;
    insert_raw(
        &db,
        &n.prefix,
        &format!("{}.ok", n.subject),
        b"fine",
        json!({}),
        "ok",
    )
    .await;
    let relay = Relay::new(
        db,
        n.prefix.clone(),
        js.clone(),
        RelayConfig {
            max_attempts: 3,
            ..fast()
        },
    )
    .await
    .expect("relay");
    drain(&relay).await;
    let dead = relay.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 2, "{dead:?}");
    let by_subject: BTreeMap<&str, _> = dead
        .iter()
        .map(|d| (d.subject.rsplit('.').next().unwrap_or(""), d))
        .collect();
    assert_eq!(by_subject["big"].attempts, 3, "retried up to max_attempts");
    assert_eq!(
        by_subject["huge"].attempts, 1,
        "never sendable: parked at once"
    );
    assert!(
        by_subject["huge"]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("max_payload"))
    );
    assert_eq!(
        read_stream(&js, &n.stream, 1).await.len(),
        1,
        "the other row went out"
    );

    // Fix the stream, redrive: the parked row goes out.
    let mut config = js
        .get_stream(&n.stream)
        .await
        .expect("stream")
        .cached_info()
        .config
        .clone();
    config.max_message_size = -1;
    js.update_stream(config).await.expect("update stream");
    assert_eq!(
        relay
            .redrive_dead(Some(&[by_subject["big"].id]))
            .await
            .expect("redrive"),
        1
    );
    drain(&relay).await;
    assert_eq!(read_stream(&js, &n.stream, 2).await.len(), 2);
    assert_eq!(relay.dead_letters(10).await.expect("dead").len(), 1);
    js.delete_stream(&n.stream).await.expect("delete stream");
    drop_prefix(&pool, &n.prefix).await;
}

// --- defect 9: order per stream ---------------------------------------------------------------

/// Versions of each stream in the order the broker stored them.
fn versions_by_stream(messages: &[jetstream::Message]) -> BTreeMap<String, Vec<u64>> {
    let mut by_stream: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in messages {
        let stream = header(m, "Mspack-Stream")
            .expect("stream header")
            .to_owned();
        let version = header(m, "Mspack-Version")
            .and_then(|v| v.parse().ok())
            .expect("version header");
        by_stream.entry(stream).or_default().push(version);
    }
    by_stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_keep_every_stream_in_order() {
    let Some((pool, js)) = servers().await else {
        return;
    };
    let n = names();
    let store = pg_store(&pool, &n).await;
    ensure_stream(&js, &n.stream, vec![format!("{}.>", n.subject)])
        .await
        .expect("stream");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut relays = Vec::new();
    let mut handles = Vec::new();
    for name in ["r1", "r2"] {
        let relay = Relay::new(
            Database::Postgres(pool.clone()),
            n.prefix.clone(),
            js.clone(),
            RelayConfig {
                name: Some(name.to_owned()),
                batch_size: 16,
                poll_interval: Some(Duration::from_millis(5)),
                ..fast()
            },
        )
        .await
        .expect("relay");
        relays.push(relay.clone());
        let mut stopped = stopped.clone();
        handles.push(tokio::spawn(async move {
            relay
                .run(
                    async move {
                        let _ = stopped.changed().await;
                    },
                    |_| {},
                )
                .await;
        }));
    }
    const STREAMS: u64 = 40;
    const VERSIONS: u64 = 25;
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for v in 0..VERSIONS {
                for s in (w..STREAMS).step_by(4) {
                    let events = vec![NewEvent::new("Moved", json!({ "s": s, "v": v }))];
                    store
                        .append(&format!("order-{s}"), ExpectedVersion::Any, &events)
                        .await
                        .expect("append");
                }
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let total = (STREAMS * VERSIONS) as usize;
    let messages = read_stream(&js, &n.stream, total).await;
    let _ = stop.send(true);
    for h in handles {
        h.await.expect("relay task");
    }
    assert_eq!(messages.len(), total);
    let held: Vec<usize> = relays.iter().map(|r| r.partitions().len()).collect();
    eprintln!("partitions held at the end: {held:?} (released on shutdown)");
    for (stream, versions) in versions_by_stream(&messages) {
        let expected: Vec<u64> = (1..=VERSIONS).collect();
        assert_eq!(
            versions, expected,
            "stream {stream} out of order on the broker"
        );
    }
    js.delete_stream(&n.stream).await.expect("delete stream");
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_row_holds_back_the_later_rows_of_its_stream_only() {
    let Some((pool, js)) = servers().await else {
        return;
    };
    let n = names();
    let store = pg_store(&pool, &n).await;
    // The stream captures `Placed` events only, for now.
    ensure_stream(&js, &n.stream, vec![format!("{}.Placed", n.subject)])
        .await
        .expect("stream");
    let e = |t: &str| NewEvent::new(t, json!({}));
    store
        .append(
            "order-1",
            ExpectedVersion::NoStream,
            &[e("Placed"), e("Paid"), e("Placed")],
        )
        .await
        .expect("append");
    store
        .append("order-2", ExpectedVersion::NoStream, &[e("Placed")])
        .await
        .expect("append");
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        n.prefix.clone(),
        js.clone(),
        RelayConfig {
            initial_backoff: Duration::from_millis(300),
            ..fast()
        },
    )
    .await
    .expect("relay");
    for _ in 0..3 {
        relay.publish_pending().await.expect("pass");
    }
    let early = read_stream(&js, &n.stream, 2).await;
    assert_eq!(
        versions_by_stream(&early),
        BTreeMap::from([
            ("order-1".to_owned(), vec![1]),
            ("order-2".to_owned(), vec![1])
        ]),
        "order-1 v3 waits behind v2; order-2 goes on"
    );
    // The subject becomes capturable: v2, then v3.
    ensure(
        &js,
        &StreamSpec::new(&n.stream, vec![format!("{}.>", n.subject)]),
    )
    .await
    .expect("widen the stream");
    tokio::time::sleep(Duration::from_millis(400)).await;
    drain(&relay).await;
    let all = read_stream(&js, &n.stream, 4).await;
    assert_eq!(versions_by_stream(&all)["order-1"], [1, 2, 3]);
    js.delete_stream(&n.stream).await.expect("delete stream");
    drop_prefix(&pool, &n.prefix).await;
}

// --- defect 8: the relay is a supervisor ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_keeps_delivering_through_terminated_backends_and_a_broker_restart() {
    let Some(pool) = mspack_testkit::postgres_pool().await else {
        return;
    };
    let Some(mut broker) = NatsServer::start() else {
        return;
    };
    let n = names();
    let store = pg_store(&pool, &n).await;
    // The relay's own pool, named so its backends can be found and terminated.
    let app = format!("relay-{}", &n.stream);
    let options: sqlx::postgres::PgConnectOptions = mspack_eventstore::database_url_from_env()
        .parse::<sqlx::postgres::PgConnectOptions>()
        .expect("url")
        .application_name(&app);
    let relay_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("relay pool");
    let js = connect_jetstream(&broker.url())
        .await
        .expect("private broker");
    let spec = StreamSpec::new(&n.stream, vec![format!("{}.>", n.subject)]);
    ensure(&js, &spec).await.expect("stream");
    let relay = Relay::new(
        Database::Postgres(relay_pool),
        n.prefix.clone(),
        js.clone(),
        RelayConfig {
            streams: vec![spec],
            ..fast()
        },
    )
    .await
    .expect("relay");
    let health = relay.health();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        relay
            .run(
                async {
                    let _ = stopped.await;
                },
                |_| {},
            )
            .await;
    });
    let mut appended = 0;
    let append = |k: u64| {
        let store = store.clone();
        async move {
            store
                .append(
                    &format!("s{k}"),
                    ExpectedVersion::Any,
                    &[NewEvent::new("Tick", json!({ "k": k }))],
                )
                .await
                .expect("append");
        }
    };
    for k in 0..10 {
        append(k).await;
        appended += 1;
    }
    // Terminate every backend of the relay's pool, twice, while appending.
    for round in 0..2 {
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_one(&pool)
        .await
        .expect("terminate");
        assert!(
            killed > 0 || round > 0,
            "the relay had connections to terminate"
        );
        for k in 0..10 {
            append(100 * (round + 1) + k).await;
            appended += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Restart the broker (SIGKILL, same store): the client reconnects, the relay retries.
    broker.kill();
    for k in 0..10 {
        append(1000 + k).await;
        appended += 1;
    }
    let saw_degraded = eventually(Duration::from_secs(15), || {
        let h = health.clone();
        async move { h.report().status == HealthStatus::Degraded }
    })
    .await;
    broker.restart();
    let count_stream = || {
        let js = js.clone();
        let name = n.stream.clone();
        async move {
            match js.get_stream(&name).await {
                Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
                Err(_) => 0,
            }
        }
    };
    let all_there = eventually(Duration::from_secs(60), || async {
        count_stream().await == appended
    })
    .await;
    assert!(
        all_there,
        "{} of {appended} delivered",
        count_stream().await
    );
    assert!(saw_degraded, "the relay reported the outage");
    assert!(
        eventually(Duration::from_secs(10), || {
            let h = health.clone();
            async move { h.report().status == HealthStatus::Healthy }
        })
        .await,
        "healthy again: {:?}",
        health.report()
    );
    assert!(!task.is_finished(), "run() is still running");
    let _ = stop.send(());
    task.await.expect("relay task");
    assert_eq!(health.report().status, HealthStatus::Stopped);
    drop_prefix(&pool, &n.prefix).await;
}

// --- defect 11: durability window ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_rows_are_kept_so_a_broker_that_lost_them_can_be_redriven() {
    let Some(pool) = mspack_testkit::postgres_pool().await else {
        return;
    };
    let Some(mut broker) = NatsServer::start() else {
        return;
    };
    let n = names();
    let store = pg_store(&pool, &n).await;
    let js = connect_jetstream(&broker.url())
        .await
        .expect("private broker");
    let spec = StreamSpec::new(&n.stream, vec![format!("{}.>", n.subject)]);
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        n.prefix.clone(),
        js.clone(),
        RelayConfig {
            streams: vec![spec],
            ..fast()
        },
    )
    .await
    .expect("relay");
    relay.ensure_streams().await.expect("stream");
    let before = SystemTime::now() - Duration::from_secs(1);
    for k in 0..50 {
        store
            .append(
                &format!("s{}", k % 5),
                ExpectedVersion::Any,
                &[NewEvent::new("Paid", json!({ "k": k }))],
            )
            .await
            .expect("append");
    }
    drain(&relay).await;
    assert_eq!(read_stream(&js, &n.stream, 50).await.len(), 50);
    // The broker host loses its disk: every acknowledged message is gone, the stream too.
    broker.kill_and_lose_data();
    broker.restart();
    assert!(
        eventually(Duration::from_secs(10), || async {
            js.get_stream(&n.stream).await.is_err()
        })
        .await,
        "the stream is gone with the data"
    );
    // The outbox kept what it sent: redrive it.
    assert_eq!(relay.redrive_sent_since(before).await.expect("redrive"), 50);
    for _ in 0..100 {
        relay.publish_pending().await.ok();
        if relay.pending().await.expect("pending") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = read_stream(&js, &n.stream, 50).await;
    assert_eq!(again.len(), 50, "every lost message is back");
    for (stream, versions) in versions_by_stream(&again) {
        assert_eq!(
            versions,
            (1..=10).collect::<Vec<u64>>(),
            "{stream} in order"
        );
    }
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_refuses_memory_streams_and_raises_a_short_duplicate_window() {
    let Some(_) = mspack_testkit::nats().await else {
        return;
    };
    let js = connect_jetstream(&nats_url()).await.expect("jetstream");
    let n = names();
    let memory = format!("{}M", n.stream);
    js.create_stream(stream::Config {
        name: memory.clone(),
        subjects: vec![format!("{}.mem.>", n.subject)],
        storage: stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .expect("memory stream");
    let err = ensure(
        &js,
        &StreamSpec::new(&memory, vec![format!("{}.mem.>", n.subject)]),
    )
    .await
    .expect_err("memory storage refused");
    assert!(matches!(err, OutboxError::StreamMismatch { .. }), "{err}");
    js.create_stream(stream::Config {
        name: n.stream.clone(),
        subjects: vec![format!("{}.file.>", n.subject)],
        duplicate_window: Duration::from_secs(5),
        ..Default::default()
    })
    .await
    .expect("short window");
    let mut s = ensure(
        &js,
        &StreamSpec::new(&n.stream, vec![format!("{}.file.>", n.subject)]),
    )
    .await
    .expect("raised");
    assert_eq!(
        s.info().await.expect("info").config.duplicate_window,
        Duration::from_secs(120)
    );
    js.delete_stream(&memory).await.expect("delete");
    js.delete_stream(&n.stream).await.expect("delete");
}

// --- defect 3: the inbox covers event-sourced effects ----------------------------------------

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    charged: u64,
}

#[derive(Debug, Serialize, Deserialize)]
enum AccountEvent {
    Charged { amount: u64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        "Charged"
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Account {
    const KIND: &'static str = "account";
    type Command = u64;
    type Event = AccountEvent;
    type Error = Never;

    fn handle(&self, amount: u64) -> Result<Vec<AccountEvent>, Never> {
        Ok(vec![AccountEvent::Charged { amount }])
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Charged { amount } = event;
        self.charged += amount;
    }
}

async fn redelivered_command_appends_its_event_once(
    store: SqlEventStore,
    js: Option<jetstream::Context>,
    n: &Names,
) {
    let db = store.database().clone();
    let inbox = Inbox::new(db.clone(), n.prefix.clone(), "payments")
        .await
        .expect("inbox");
    let repo: Repository<Account, _> = Repository::new(store.clone());
    // A relay on the same database keeps working meanwhile (on SQLite it shares the file).
    let relay_task = js.map(|js| {
        let db = db.clone();
        let prefix = n.prefix.clone();
        tokio::spawn(async move {
            let relay = Relay::new(db, prefix, js, fast()).await.expect("relay");
            let health = relay.health();
            let run = relay.run(tokio::time::sleep(Duration::from_secs(3)), |_| {});
            run.await;
            health.report()
        })
    });
    let message = Uuid::new_v4();
    let meta = Metadata::default();
    // First delivery: the event is appended in the inbox transaction, then the process dies
    // before the commit.
    let Claim::New(mut tx) = inbox.claim(message).await.expect("claim") else {
        panic!("first delivery")
    };
    repo.execute_in(tx.tx(), "acct-1", 30, &meta, &[])
        .await
        .expect("charge");
    drop(tx);
    assert_eq!(
        store
            .stream_version("account-acct-1")
            .await
            .expect("version"),
        0,
        "nothing committed alone"
    );
    // Redelivery: done and committed, together.
    let Claim::New(mut tx) = inbox.claim(message).await.expect("claim") else {
        panic!("redelivery after the crash")
    };
    repo.execute_in(tx.tx(), "acct-1", 30, &meta, &[])
        .await
        .expect("charge");
    tx.set_outcome("charged").await.expect("outcome");
    tx.commit().await.expect("commit");
    // A third delivery: skipped, with the stored outcome.
    match inbox.claim(message).await.expect("claim") {
        Claim::Done { outcome } => assert_eq!(outcome.as_deref(), Some("charged")),
        Claim::New(_) => panic!("processed twice"),
    }
    let loaded = repo.load("acct-1").await.expect("load");
    assert_eq!(
        (loaded.version, loaded.state.charged),
        (1, 30),
        "charged exactly once"
    );
    if let Some(task) = relay_task {
        let report = task.await.expect("relay task");
        assert_ne!(
            report.last_error.as_deref().map(|e| e.contains("locked")),
            Some(true),
            "{report:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_and_event_sourced_effects_commit_together_sqlite() {
    let js = match mspack_testkit::nats().await {
        Some(_) => connect_jetstream(&nats_url()).await.ok(),
        None => None,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let n = names();
    let store = SqlEventStore::open_sqlite(
        dir.path().join("p.db").to_str().expect("utf-8"),
        StoreConfig::new()
            .with_prefix(n.prefix.clone())
            .publish_events(n.subject.clone()),
    )
    .await
    .expect("store");
    redelivered_command_appends_its_event_once(store, js, &n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_and_event_sourced_effects_commit_together_postgres() {
    let Some((pool, js)) = servers().await else {
        return;
    };
    let n = names();
    let store = pg_store(&pool, &n).await;
    redelivered_command_appends_its_event_once(store, Some(js), &n).await;
    drop_prefix(&pool, &n.prefix).await;
}

#[tokio::test]
async fn inbox_is_purged_after_its_horizon() {
    let db = Database::sqlite_in_memory().await.expect("sqlite");
    let inbox = Inbox::new(db, names().prefix, "kitchen")
        .await
        .expect("inbox");
    let old = Uuid::new_v4();
    inbox
        .begin(old)
        .await
        .expect("claim")
        .expect("new")
        .commit()
        .await
        .expect("commit");
    assert_eq!(
        inbox.purge(Duration::from_secs(3600)).await.expect("purge"),
        0,
        "young rows stay"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(inbox.purge(Duration::ZERO).await.expect("purge"), 1);
    assert!(!inbox.is_processed(old).await.expect("read"));
}
