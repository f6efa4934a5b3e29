//! Behaviour of the event store on SQLite and PostgreSQL (PostgreSQL tests skip when absent).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::Fixture;
use mspack_eventstore::{
    Checkpoint, Database, EventStore, ExpectedVersion, Metadata, NewEvent, OutboxMessage,
    SqlEventStore, StoreConfig, StoreError, Upcasters,
};
use serde_json::json;
use uuid::Uuid;

fn event(n: u64) -> NewEvent {
    NewEvent::new("Counted", json!({ "n": n }))
}

async fn appended_events_read_back_in_version_order(f: &Fixture) {
    let s = &f.store;
    let r = s
        .append("order-1", ExpectedVersion::NoStream, &[event(1), event(2)])
        .await
        .expect("first append");
    assert_eq!(r.version, 2);
    let r = s
        .append("order-1", ExpectedVersion::Exact(2), &[event(3)])
        .await
        .expect("second append");
    assert_eq!(r.version, 3);
    let events = s.read_stream("order-1", 0, 100).await.expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    let ns: Vec<u64> = events
        .iter()
        .map(|e| e.payload["n"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(ns, [1, 2, 3]);
    let tail = s.read_stream("order-1", 2, 100).await.expect("read tail");
    assert_eq!(tail.len(), 1);
    assert_eq!(s.stream_version("order-1").await.expect("version"), 3);
    assert_eq!(s.stream_version("order-missing").await.expect("version"), 0);
}
on_both_backends!(
    append_and_read_stream,
    StoreConfig::new(),
    appended_events_read_back_in_version_order
);

async fn stale_expected_version_is_a_conflict_and_writes_nothing(f: &Fixture) {
    let s = &f.store;
    s.append("s", ExpectedVersion::NoStream, &[event(1)])
        .await
        .expect("append");
    let err = s
        .append("s", ExpectedVersion::NoStream, &[event(2)])
        .await
        .expect_err("stale version must fail");
    match err {
        StoreError::Conflict { actual, .. } => assert_eq!(actual, 1),
        other => panic!("expected a conflict, got {other}"),
    }
    let ahead = s
        .append("s", ExpectedVersion::Exact(5), &[event(2)])
        .await
        .expect_err("a version ahead of the stream must fail too");
    assert!(ahead.is_conflict());
    assert_eq!(s.read_stream("s", 0, 10).await.expect("read").len(), 1);
    let any = s
        .append("s", ExpectedVersion::Any, &[event(2)])
        .await
        .expect("any skips the check");
    assert_eq!(any.version, 2);
}
on_both_backends!(
    stale_version,
    StoreConfig::new(),
    stale_expected_version_is_a_conflict_and_writes_nothing
);

/// The proof: 8 writers x 500 appends to one stream, retrying on conflict, give exactly
/// versions 1..=4000 with no gap and no duplicate.
async fn eight_writers_times_500_appends_give_versions_1_to_4000(f: &Fixture) {
    const WRITERS: u64 = 8;
    const APPENDS: u64 = 500;
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = f.store.clone();
        let conflicts = conflicts.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..APPENDS {
                let e = NewEvent::new("Written", json!({ "writer": w, "i": i }));
                loop {
                    let v = store.stream_version("contended").await.expect("version");
                    match store
                        .append(
                            "contended",
                            ExpectedVersion::Exact(v),
                            std::slice::from_ref(&e),
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(err) if err.is_conflict() => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => panic!("append failed: {err}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    let events = f
        .store
        .read_stream("contended", 0, 10_000)
        .await
        .expect("read");
    assert_eq!(events.len() as u64, WRITERS * APPENDS);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.version, i as u64 + 1, "gap or duplicate at index {i}");
    }
    let mut ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len() as u64,
        WRITERS * APPENDS,
        "an event was written twice"
    );
    let mut per_writer = [0u64; WRITERS as usize];
    for e in &events {
        per_writer[e.payload["writer"].as_u64().unwrap_or(99) as usize] += 1;
    }
    assert!(per_writer.iter().all(|&n| n == APPENDS), "{per_writer:?}");
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    eprintln!(
        "concurrency: {} events, {} conflicts retried",
        events.len(),
        conflicts.load(Ordering::Relaxed)
    );
}
on_both_backends!(
    concurrent_writers,
    StoreConfig::new(),
    eight_writers_times_500_appends_give_versions_1_to_4000
);

async fn read_all_returns_every_stream_by_global_position(f: &Fixture) {
    let s = &f.store;
    s.append("a", ExpectedVersion::NoStream, &[event(1), event(2)])
        .await
        .expect("a");
    s.append("b", ExpectedVersion::NoStream, &[event(3)])
        .await
        .expect("b");
    s.append("a", ExpectedVersion::Exact(2), &[event(4)])
        .await
        .expect("a again");
    let all = s.read_all(Checkpoint::START, 100).await.expect("read all");
    let order: Vec<(String, u64)> = all
        .iter()
        .map(|e| (e.stream_id.clone(), e.version))
        .collect();
    assert_eq!(
        order,
        [
            ("a".to_owned(), 1),
            ("a".to_owned(), 2),
            ("b".to_owned(), 1),
            ("a".to_owned(), 3)
        ]
    );
    assert!(
        all.windows(2)
            .all(|w| w[0].checkpoint() < w[1].checkpoint())
    );
    let after = s.read_all(all[1].checkpoint(), 1).await.expect("page");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].stream_id, "b");
}
on_both_backends!(
    read_all,
    StoreConfig::new(),
    read_all_returns_every_stream_by_global_position
);

async fn metadata_round_trips(f: &Fixture) {
    let correlation = Uuid::new_v4();
    let causation = Uuid::new_v4();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let e = event(1).with_schema_version(3).with_metadata(Metadata {
        correlation_id: Some(correlation),
        causation_id: Some(causation),
        traceparent: Some(traceparent.to_owned()),
    });
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
    f.store
        .append("m", ExpectedVersion::NoStream, std::slice::from_ref(&e))
        .await
        .expect("append");
    let got = &f.store.read_stream("m", 0, 1).await.expect("read")[0];
    assert_eq!(got.event_id, e.event_id);
    assert_eq!(got.event_type, "Counted");
    assert_eq!(got.schema_version, 3);
    assert_eq!(got.metadata.correlation_id, Some(correlation));
    assert_eq!(got.metadata.causation_id, Some(causation));
    assert_eq!(got.metadata.traceparent.as_deref(), Some(traceparent));
    assert!(got.recorded_at > before);
    assert!(got.position >= 1);
}
on_both_backends!(metadata, StoreConfig::new(), metadata_round_trips);

fn upcasters() -> Upcasters {
    // v1 {"name": "Ada Lovelace"} -> v2 {"first": .., "last": ..} -> v3 adds "vip": false
    Upcasters::new()
        .register("CustomerRegistered", 1, |mut v| {
            let name = v["name"].as_str().ok_or("no name")?.to_owned();
            let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
            v = json!({ "first": first, "last": last });
            Ok(v)
        })
        .register("CustomerRegistered", 2, |mut v| {
            v["vip"] = json!(false);
            Ok(v)
        })
}

async fn old_schema_versions_are_upcast_on_read(f: &Fixture) {
    let old = NewEvent::new("CustomerRegistered", json!({ "name": "Ada Lovelace" }));
    let current = NewEvent::new(
        "CustomerRegistered",
        json!({ "first": "Grace", "last": "Hopper", "vip": true }),
    )
    .with_schema_version(3);
    f.store
        .append("c", ExpectedVersion::NoStream, &[old, current])
        .await
        .expect("append");
    let events = f.store.read_stream("c", 0, 10).await.expect("read");
    assert_eq!(events[0].schema_version, 3);
    assert_eq!(
        events[0].payload,
        json!({ "first": "Ada", "last": "Lovelace", "vip": false })
    );
    assert_eq!(events[1].payload["vip"], json!(true));
    let all = f
        .store
        .read_all(Checkpoint::START, 10)
        .await
        .expect("read all");
    assert_eq!(all[0].schema_version, 3);
}
on_both_backends!(
    upcasting,
    StoreConfig::new().with_upcasters(upcasters()),
    old_schema_versions_are_upcast_on_read
);

async fn publishing_writes_outbox_rows_only_for_committed_appends(f: &Fixture) {
    let s = &f.store;
    let message = OutboxMessage::new("extra.subject", b"hello".to_vec())
        .with_header("traceparent", "00-aa-bb-01");
    s.append_with_outbox(
        "p",
        ExpectedVersion::NoStream,
        &[event(1), event(2)],
        std::slice::from_ref(&message),
    )
    .await
    .expect("append");
    let failed = s
        .append_with_outbox("p", ExpectedVersion::NoStream, &[event(3)], &[message])
        .await;
    assert!(failed.is_err_and(|e| e.is_conflict()));
    let count = f.count("outbox").await;
    assert_eq!(
        count, 3,
        "two events and one message, none from the conflicting append"
    );
}
on_both_backends!(
    outbox_rows,
    StoreConfig::new().publish_events("test.events"),
    publishing_writes_outbox_rows_only_for_committed_appends
);

#[tokio::test]
async fn in_memory_sqlite_store_works_without_a_file() {
    let store = SqlEventStore::open_sqlite(":memory:", StoreConfig::new())
        .await
        .expect("open");
    store
        .append("x", ExpectedVersion::NoStream, &[event(1)])
        .await
        .expect("append");
    assert_eq!(
        store
            .read_all(Checkpoint::START, 10)
            .await
            .expect("read")
            .len(),
        1
    );
}

#[tokio::test]
async fn reopening_a_sqlite_file_keeps_events_and_migrates_idempotently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let path = path.to_str().expect("utf-8");
    {
        let store = SqlEventStore::open_sqlite(path, StoreConfig::new())
            .await
            .expect("open");
        store
            .append("x", ExpectedVersion::NoStream, &[event(1)])
            .await
            .expect("append");
    }
    let store = SqlEventStore::open_sqlite(path, StoreConfig::new())
        .await
        .expect("reopen");
    assert_eq!(store.stream_version("x").await.expect("version"), 1);
}

#[tokio::test]
async fn postgres_migrations_are_idempotent_across_opens() {
    let Some(pool) = common::postgres_pool().await else {
        return;
    };
    let prefix = mspack_testkit::names().prefix;
    let config = StoreConfig::new().with_prefix(prefix.clone());
    let db = Database::Postgres(pool.clone());
    let (a, b) = tokio::join!(
        SqlEventStore::new(db.clone(), config.clone()),
        SqlEventStore::new(db.clone(), config.clone()),
    );
    let a = a.expect("first open");
    b.expect("concurrent open");
    a.append("x", ExpectedVersion::NoStream, &[event(1)])
        .await
        .expect("append");
    let again = SqlEventStore::new(db, config).await.expect("third open");
    assert_eq!(again.stream_version("x").await.expect("version"), 1);
    common::drop_prefix(&pool, &prefix).await;
}

#[test]
fn table_prefix_rejects_anything_but_a_plain_identifier() {
    use mspack_eventstore::TablePrefix;
    assert!(TablePrefix::new("orders_").is_ok());
    for bad in ["", "1x", "Orders", "a-b", "a;drop table x", &"a".repeat(41)] {
        assert!(TablePrefix::new(bad).is_err(), "{bad:?} accepted");
    }
}
