//! Failure paths of the event store, each a regression test of a reproduced defect: appends in a
//! caller's transaction, retries of appends whose reply was lost, `Any` appends under a
//! REPEATABLE READ default, time order, global-order readers racing writers, projection rebuilds
//! interrupted by a crash, checkpoints that must not move backwards, and input that must be
//! refused before it can poison the outbox. On SQLite, PostgreSQL (required under CI=true) and,
//! where the contract is the store's, in memory.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Fixture;
use mspack_eventstore::{
    ApplyError, Checkpoint, Database, EventStore, ExpectedVersion, InMemoryEventStore, NewEvent,
    OutboxMessage, Projection, ProjectionRunner, RecordedEvent, SqlEventStore, StoreConfig,
    StoreError, TransactionalProjection, TransactionalRunner, Tx,
};
use serde_json::json;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

fn event(n: u64) -> NewEvent {
    NewEvent::new("Counted", json!({ "n": n }))
}

/// Runs `sql` (with `{p}` for the prefix) on the store's database.
async fn exec(store: &SqlEventStore, sql: &str) {
    mspack_testkit::exec(store.database(), store.config().prefix(), sql).await;
}

use mspack_testkit::exec_in;

/// Reads the whole global order, waiting for transactions still in flight elsewhere.
async fn read_everything<S: EventStore>(store: &S, expect: usize) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut at = Checkpoint::START;
    for _ in 0..1000 {
        let page = store.read_all(at, 1000).await.expect("read all");
        if let Some(last) = page.last() {
            at = last.checkpoint();
        }
        let empty = page.is_empty();
        all.extend(page);
        if all.len() >= expect && empty {
            break;
        }
        if empty {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    all
}

// --- defect 3: the inbox could not cover event-sourced effects ---------------------------------

async fn append_in_commits_with_the_callers_work_or_not_at_all(f: &Fixture) {
    let s = &f.store;
    let prefix = s.config().prefix().clone();
    exec(s, "CREATE TABLE {p}effects (id TEXT PRIMARY KEY)").await;

    // Rolled back: neither the caller's row nor the events exist.
    let mut tx = s.begin().await.expect("begin");
    exec_in(&mut tx, &prefix, "INSERT INTO {p}effects VALUES ('a')").await;
    s.append_in(
        &mut tx,
        "order-1",
        ExpectedVersion::NoStream,
        &[event(1)],
        &[],
    )
    .await
    .expect("append in transaction");
    let seen = s
        .read_stream_in(&mut tx, "order-1", 0, 10)
        .await
        .expect("read own write");
    assert_eq!(seen.len(), 1, "the transaction sees its own append");
    drop(tx);
    assert_eq!(s.stream_version("order-1").await.expect("version"), 0);
    assert_eq!(f.count("effects").await, 0);

    // Committed: both, and a second writer that waited for the lock is not refused.
    let mut tx = s.begin().await.expect("begin");
    exec_in(&mut tx, &prefix, "INSERT INTO {p}effects VALUES ('a')").await;
    s.append_in(
        &mut tx,
        "order-1",
        ExpectedVersion::NoStream,
        &[event(1)],
        &[],
    )
    .await
    .expect("append in transaction");
    let other = {
        let s = s.clone();
        tokio::spawn(async move {
            s.append("order-2", ExpectedVersion::NoStream, &[event(2)])
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.commit(tx).await.expect("commit");
    other
        .await
        .expect("task")
        .expect("a concurrent append waits for the transaction, then succeeds");
    assert_eq!(s.stream_version("order-1").await.expect("version"), 1);
    assert_eq!(f.count("effects").await, 1);
}
on_both_backends!(
    append_in_transaction,
    StoreConfig::new(),
    append_in_commits_with_the_callers_work_or_not_at_all
);

// --- defect 12: a retried append whose reply was lost -------------------------------------------

async fn retried_append_is_idempotent_by_event_id<S: EventStore>(s: &S) {
    let batch = [event(1), event(2)];
    let first = s
        .append_with_outbox("cart-1", ExpectedVersion::NoStream, &batch, &[])
        .await
        .expect("append");
    assert!(!first.idempotent_retry);
    // The same append again (its commit succeeded, the reply was lost): same result, nothing new.
    let again = s
        .append_with_outbox("cart-1", ExpectedVersion::NoStream, &batch, &[])
        .await
        .expect("a retry of a committed append is not an error");
    assert!(again.idempotent_retry);
    assert_eq!(
        (again.version, again.first_position, again.last_position),
        (first.version, first.first_position, first.last_position)
    );
    let any = s
        .append("cart-1", ExpectedVersion::Any, &batch)
        .await
        .expect("retry with Any");
    assert!(any.idempotent_retry);
    assert_eq!(s.stream_version("cart-1").await.expect("version"), 2);
    // Reusing an id in another batch or stream is refused, and writes nothing.
    for (stream, expected, events) in [
        (
            "cart-1",
            ExpectedVersion::Exact(2),
            vec![event(3), batch[0].clone()],
        ),
        ("cart-2", ExpectedVersion::NoStream, vec![batch[1].clone()]),
    ] {
        let err = s
            .append(stream, expected, &events)
            .await
            .expect_err("duplicate id");
        assert!(
            matches!(err, StoreError::DuplicateEventId { ref stored_in, .. } if stored_in.is_empty() || stored_in == "cart-1"),
            "{err}"
        );
    }
    assert_eq!(s.stream_version("cart-1").await.expect("version"), 2);
    assert_eq!(s.stream_version("cart-2").await.expect("version"), 0);
    // A stale version with other ids is still a plain conflict.
    let err = s
        .append("cart-1", ExpectedVersion::Exact(1), &[event(9)])
        .await
        .expect_err("conflict");
    assert!(
        matches!(err, StoreError::Conflict { actual: 2, .. }),
        "{err}"
    );
}

async fn retried_append_sql(f: &Fixture) {
    retried_append_is_idempotent_by_event_id(&f.store).await;
}
on_both_backends!(
    retried_append,
    StoreConfig::new().publish_events("retry.events"),
    retried_append_sql
);

#[tokio::test]
async fn retried_append_in_memory() {
    retried_append_is_idempotent_by_event_id(&InMemoryEventStore::default()).await;
}

#[tokio::test]
async fn retried_append_writes_its_outbox_rows_once() {
    let (store, _dir) = common::sqlite_store(StoreConfig::new().publish_events("o.events")).await;
    let batch = [event(1)];
    store
        .append("s", ExpectedVersion::NoStream, &batch)
        .await
        .expect("append");
    store
        .append("s", ExpectedVersion::NoStream, &batch)
        .await
        .expect("retry");
    let sql = store
        .config()
        .prefix()
        .render("SELECT count(*) FROM {p}outbox");
    let Database::Sqlite(pool) = store.database() else {
        unreachable!("sqlite store")
    };
    let rows: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

// --- defect 12: `Any` under a REPEATABLE READ default -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_appends_under_a_repeatable_read_default_never_conflict() {
    let Some(plain) = common::postgres_pool().await else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("SET default_transaction_isolation TO 'repeatable read'")
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
        .connect(&mspack_eventstore::database_url_from_env())
        .await
        .expect("pool");
    let config = StoreConfig::new().with_prefix(mspack_testkit::names().prefix);
    let store = SqlEventStore::new(Database::Postgres(pool), config)
        .await
        .expect("store");
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                store
                    .append("hot", ExpectedVersion::Any, &[event(w * 100 + i)])
                    .await
                    .expect("an Any append never conflicts");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let events = store.read_stream("hot", 0, 1000).await.expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=320).collect::<Vec<_>>());
    mspack_testkit::drop_prefix(&plain, store.config().prefix()).await;
}

// --- defect 12: recorded_at follows the order --------------------------------------------------

async fn recorded_at_never_goes_back(f: &Fixture) {
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                store
                    .append(&format!("w{w}"), ExpectedVersion::Any, &[event(i)])
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let all = read_everything(&f.store, 200).await;
    assert_eq!(all.len(), 200);
    for w in 0..4 {
        let stream: Vec<_> = all
            .iter()
            .filter(|e| e.stream_id == format!("w{w}"))
            .collect();
        assert!(
            stream
                .windows(2)
                .all(|p| p[0].recorded_at <= p[1].recorded_at),
            "times go back within stream w{w}"
        );
    }
    if matches!(f.store.database(), Database::Sqlite(_)) {
        // One writer at a time: the global order is the commit order, and so is time.
        assert!(
            all.windows(2).all(|p| p[0].recorded_at <= p[1].recorded_at),
            "times go back along the global order"
        );
    }
}
on_both_backends!(time_order, StoreConfig::new(), recorded_at_never_goes_back);

// --- speed without skipping: a global-order reader racing eight writers ------------------------

async fn reader_racing_eight_writers_never_skips(f: &Fixture) {
    const WRITERS: u64 = 8;
    const EACH: u64 = 150;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let store = f.store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut at = Checkpoint::START;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.read_all(at, 64).await.expect("read");
                for e in &page {
                    assert!(e.checkpoint() > at, "the order went backwards");
                    at = e.checkpoint();
                    seen.push(e.event_id);
                }
                if finished && page.is_empty() && seen.len() as u64 >= WRITERS * EACH {
                    return seen;
                }
                if page.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = f.store.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let e = event(i);
                ids.push(e.event_id);
                store
                    .append(&format!("s{w}-{}", i % 5), ExpectedVersion::Any, &[e])
                    .await
                    .expect("append");
            }
            ids
        }));
    }
    let mut written = BTreeSet::new();
    for w in writers {
        written.extend(w.await.expect("writer"));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader catches up")
        .expect("reader");
    let unique: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an event was read twice");
    assert_eq!(unique, written, "the reader skipped an event");
}
on_both_backends!(
    reader_racing_writers,
    StoreConfig::new(),
    reader_racing_eight_writers_never_skips
);

// --- defect 10: projection rebuilds and checkpoints ---------------------------------------------

/// A read model outside the store (shared across "restarts"), whose reset can crash after
/// clearing it.
#[derive(Clone, Default)]
struct External {
    model: Arc<Mutex<BTreeMap<String, u64>>>,
    crash_in_reset: bool,
}

impl Projection for External {
    fn name(&self) -> &str {
        "external"
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), ApplyError> {
        let mut model = self.model.lock().map_err(|e| e.to_string())?;
        *model.entry(event.stream_id.clone()).or_default() += 1;
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), ApplyError> {
        self.model.lock().map_err(|e| e.to_string())?.clear();
        if self.crash_in_reset {
            return Err("process killed right after clearing the read model".into());
        }
        Ok(())
    }
}

async fn settle<S: EventStore>(runner: &mut ProjectionRunner<S, External>, want: usize) {
    for _ in 0..500 {
        runner.catch_up().await.expect("catch up");
        let total: u64 = runner
            .projection()
            .model
            .lock()
            .expect("model")
            .values()
            .sum();
        if total as usize >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn interrupted_rebuild_is_finished_on_restart<S: EventStore>(store: &S) {
    for i in 0..6 {
        store
            .append(&format!("s{}", i % 2), ExpectedVersion::Any, &[event(i)])
            .await
            .expect("append");
    }
    let model = External::default();
    let lease = Duration::from_secs(30);
    let mut runner = ProjectionRunner::new(store.clone(), model.clone()).lease("node", lease);
    settle(&mut runner, 6).await;
    let expected = model.model.lock().expect("model").clone();
    assert_eq!(expected.values().sum::<u64>(), 6);

    // The rebuild crashes right after clearing the read model.
    let mut crashing = ProjectionRunner::new(
        store.clone(),
        External {
            model: model.model.clone(),
            crash_in_reset: true,
        },
    )
    .lease("node", lease);
    assert!(crashing.rebuild().await.is_err());
    assert!(model.model.lock().expect("model").is_empty());

    // The restarted runner finishes the rebuild: the read model is whole again.
    let mut restarted = ProjectionRunner::new(store.clone(), model.clone()).lease("node", lease);
    settle(&mut restarted, 6).await;
    assert_eq!(*model.model.lock().expect("model"), expected);
}

async fn interrupted_rebuild_sql(f: &Fixture) {
    interrupted_rebuild_is_finished_on_restart(&f.store).await;
}
on_both_backends!(
    interrupted_rebuild,
    StoreConfig::new(),
    interrupted_rebuild_sql
);

#[tokio::test]
async fn interrupted_rebuild_in_memory() {
    interrupted_rebuild_is_finished_on_restart(&InMemoryEventStore::default()).await;
}

async fn checkpoints_never_move_backwards(f: &Fixture) {
    let s = &f.store;
    let at = |position| Checkpoint {
        transaction: 0,
        position,
    };
    s.save_checkpoint("p", at(10)).await.expect("save");
    s.save_checkpoint("p", at(4)).await.expect("save late");
    assert_eq!(
        s.load_checkpoint("p").await.expect("load").checkpoint,
        at(10)
    );
    s.save_checkpoint("p", at(12)).await.expect("save");
    assert_eq!(
        s.load_checkpoint("p").await.expect("load").checkpoint,
        at(12)
    );
}
on_both_backends!(
    checkpoint_order,
    StoreConfig::new(),
    checkpoints_never_move_backwards
);

/// A read model in the store's database: one row per event, keyed by event id, so applying an
/// event twice fails the batch.
struct Rows {
    prefix: mspack_eventstore::TablePrefix,
}

impl TransactionalProjection for Rows {
    fn name(&self) -> &str {
        "rows"
    }

    async fn apply(&mut self, tx: &mut Tx, event: &RecordedEvent) -> Result<(), ApplyError> {
        let sql = self.prefix.render(&format!(
            "INSERT INTO {{p}}model (event_id) VALUES ('{}')",
            event.event_id
        ));
        match tx {
            Tx::Sqlite(t) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut **t)
                .await
                .map(|_| ()),
            Tx::Postgres(t) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut **t)
                .await
                .map(|_| ()),
        }?;
        Ok(())
    }

    async fn reset(&mut self, tx: &mut Tx) -> Result<(), ApplyError> {
        let sql = self.prefix.render("DELETE FROM {p}model");
        match tx {
            Tx::Sqlite(t) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut **t)
                .await
                .map(|_| ()),
            Tx::Postgres(t) => sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut **t)
                .await
                .map(|_| ()),
        }?;
        Ok(())
    }
}

async fn transactional_projection_applies_each_event_once_with_two_runners(f: &Fixture) {
    let s = &f.store;
    exec(s, "CREATE TABLE {p}model (event_id TEXT PRIMARY KEY)").await;
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                s.append(&format!("s{}", i % 7), ExpectedVersion::Any, &[event(i)])
                    .await
                    .expect("append");
            }
        })
    };
    let mut runners = Vec::new();
    for _ in 0..2 {
        let mut runner = TransactionalRunner::new(
            s.clone(),
            Rows {
                prefix: s.config().prefix().clone(),
            },
        )
        .batch_size(16);
        runners.push(tokio::spawn(async move {
            for _ in 0..400 {
                runner.catch_up().await.expect("no event is applied twice");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            runner
        }));
    }
    writer.await.expect("writer");
    let mut runners: Vec<_> = futures_join(runners).await;
    for _ in 0..200 {
        if f.count("model").await == 200 {
            break;
        }
        runners[0].catch_up().await.expect("catch up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.count("model").await, 200);
    // A rebuild clears and replays in one transaction each: never an empty model with a late
    // checkpoint.
    runners[0].rebuild().await.expect("rebuild");
    for _ in 0..200 {
        if f.count("model").await == 200 {
            break;
        }
        runners[0].catch_up().await.expect("catch up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.count("model").await, 200);
}
on_both_backends!(
    transactional_projection,
    StoreConfig::new(),
    transactional_projection_applies_each_event_once_with_two_runners
);

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

// --- defects 1 and 2: what can never be published is refused on append --------------------------

async fn unpublishable_input_is_refused_and_writes_nothing<S: EventStore>(s: &S) {
    let cases: Vec<(Vec<NewEvent>, Vec<OutboxMessage>)> = vec![
        (vec![NewEvent::new("Order Placed", json!({}))], vec![]),
        (vec![NewEvent::new("order.placed", json!({}))], vec![]),
        (
            vec![],
            vec![OutboxMessage::new("orders.x", b"{}".to_vec()).with_header("bad name", "v")],
        ),
        (
            vec![],
            vec![
                OutboxMessage::new("orders.x", b"{}".to_vec())
                    .with_header("traceparent", "00-abc\r\nX-Injected: 1"),
            ],
        ),
        (
            vec![],
            vec![OutboxMessage::new("orders..x", b"{}".to_vec())],
        ),
        (vec![], vec![OutboxMessage::new("orders.*", b"{}".to_vec())]),
        (
            vec![event(1).with_metadata(mspack_eventstore::Metadata {
                traceparent: Some("from-user-input\r\nX: y".to_owned()),
                ..Default::default()
            })],
            vec![],
        ),
    ];
    for (events, messages) in cases {
        let err = s
            .append_with_outbox("inputs", ExpectedVersion::Any, &events, &messages)
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    }
    assert_eq!(s.stream_version("inputs").await.expect("version"), 0);
}

async fn unpublishable_input_sql(f: &Fixture) {
    unpublishable_input_is_refused_and_writes_nothing(&f.store).await;
    assert_eq!(f.count("outbox").await, 0);
}
on_both_backends!(
    unpublishable_input,
    StoreConfig::new().publish_events("in.events"),
    unpublishable_input_sql
);

#[tokio::test]
async fn unpublishable_input_in_memory() {
    let store = InMemoryEventStore::new(StoreConfig::new().publish_events("in.events"));
    unpublishable_input_is_refused_and_writes_nothing(&store).await;
    assert!(store.outbox().is_empty());
}

// --- global order against a stream's order (found by the food-delivery chaos run) -------------

/// PostgreSQL orders events by (transaction id, position), and a transaction id is taken at a
/// transaction's first write, not at its commit. An inbox transaction that claimed its message
/// (its first write) before another transaction appended version 1 and committed could then
/// append version 2 under the older id: the global order listed version 2 before version 1, and
/// a projection applied "cancelled" before "placed" (the chaos run's view kept `placed` for a
/// cancelled order). Such an append must fail as a transient error (retry in a new
/// transaction), never commit out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_order_keeps_each_streams_order_when_a_later_writer_began_first() {
    // The single-statement append (events only, an exact version).
    later_writer_began_first(StoreConfig::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_order_keeps_each_streams_order_when_a_later_publishing_writer_began_first() {
    // The append function (events published through the outbox).
    later_writer_began_first(StoreConfig::new().publish_events("orders.events")).await;
}

async fn later_writer_began_first(config: StoreConfig) {
    let Some(f) = common::store(common::Backend::Postgres, config).await else {
        return;
    };
    let s = &f.store;
    let prefix = s.config().prefix().clone();
    exec(s, "CREATE TABLE {p}inbox_claims (id TEXT PRIMARY KEY)").await;

    // The later writer takes its transaction id first (claiming its message) ...
    let mut later = s.begin().await.expect("begin");
    exec_in(
        &mut later,
        &prefix,
        "INSERT INTO {p}inbox_claims VALUES ('m-2')",
    )
    .await;
    // ... then the stream's first event is appended and committed by someone else ...
    s.append("order-1", ExpectedVersion::NoStream, &[event(1)])
        .await
        .expect("first append");
    // ... and the later writer appends version 2.
    let mut refused = None;
    match s
        .append_in(
            &mut later,
            "order-1",
            ExpectedVersion::Exact(1),
            &[event(2)],
            &[],
        )
        .await
    {
        Ok(_) => s.commit(later).await.expect("commit"),
        Err(e) => {
            drop(later);
            refused = Some(e);
            // What the inbox consumer does with a transient error: the whole message again,
            // in a new transaction.
            let mut again = s.begin().await.expect("begin");
            exec_in(
                &mut again,
                &prefix,
                "INSERT INTO {p}inbox_claims VALUES ('m-2')",
            )
            .await;
            s.append_in(
                &mut again,
                "order-1",
                ExpectedVersion::Exact(1),
                &[event(2)],
                &[],
            )
            .await
            .expect("the retry appends");
            s.commit(again).await.expect("commit");
        }
    }
    let all = read_everything(s, 2).await;
    let versions: Vec<u64> = all
        .iter()
        .filter(|e| e.stream_id == "order-1")
        .map(|e| e.version)
        .collect();
    assert_eq!(
        versions,
        [1, 2],
        "the global order lists a stream's events in version order"
    );
    if let Some(e) = refused {
        assert!(e.is_transient(), "the refusal is retryable: {e}");
    }
    f.cleanup().await;
}
