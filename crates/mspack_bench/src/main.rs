//! `mspack-bench`: throughput and latency figures of the consistency crates, one JSON object per
//! line: `{"name": ..., "value": ..., "unit": ...}`.
//!
//! Figures: append throughput (one event per commit, and batches of 100) on SQLite and
//! PostgreSQL; the same workload through cqrs-es 0.5 + postgres-es 0.5 as a peer; raw PostgreSQL
//! commit rates as the ceiling; read-back throughput; outbox commit -> NATS receive latency
//! p50/p99 (PostgreSQL NOTIFY wake-up, JetStream publish). `--quick` keeps the run under two
//! minutes. PostgreSQL (`DATABASE_URL`) and NATS (`NATS_URL`) figures are skipped, with a note on
//! standard error, when the server is not reachable.

mod peer;

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use mspack_eventstore::{
    Checkpoint, Database, EventStore, ExpectedVersion, Metadata, NewEvent, Repository,
    SqlEventStore, StoreConfig, TablePrefix, database_url_from_env,
};
use mspack_outbox::{Relay, RelayConfig, connect_jetstream, ensure_stream, nats_url_from_env};
use serde_json::json;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool};

struct Sizes {
    single: u64,
    batches: u64,
    sqlite_single: u64,
    peer_single: u64,
    peer_batches: u64,
    latency: u64,
}

const BATCH: u64 = 100;

fn figure(name: &str, value: f64, unit: &str) {
    let value = (value * 100.0).round() / 100.0;
    println!("{}", json!({ "name": name, "value": value, "unit": unit }));
}

fn payload(i: u64) -> serde_json::Value {
    json!({ "n": i, "note": "bench" })
}

fn run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// One event per commit, each on a new stream (like one command on a new aggregate).
async fn append_single(store: &impl EventStore, n: u64) -> anyhow::Result<f64> {
    let run = run_id();
    for i in 0..10 {
        store
            .append(
                &format!("warm-{run}-{i}"),
                ExpectedVersion::NoStream,
                &[NewEvent::new("Counted", payload(i))],
            )
            .await?;
    }
    let started = Instant::now();
    for i in 0..n {
        store
            .append(
                &format!("s-{run}-{i}"),
                ExpectedVersion::NoStream,
                &[NewEvent::new("Counted", payload(i))],
            )
            .await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Batches of 100 events per commit, each batch on a new stream.
async fn append_batches(store: &impl EventStore, batches: u64) -> anyhow::Result<f64> {
    let run = run_id();
    let make = |b: u64| -> Vec<NewEvent> {
        (0..BATCH)
            .map(|i| NewEvent::new("Counted", payload(b * BATCH + i)))
            .collect()
    };
    for b in 0..3 {
        store
            .append(
                &format!("warmb-{run}-{b}"),
                ExpectedVersion::NoStream,
                &make(b),
            )
            .await?;
    }
    let prepared: Vec<Vec<NewEvent>> = (0..batches).map(make).collect();
    let started = Instant::now();
    for (b, events) in prepared.iter().enumerate() {
        store
            .append(&format!("b-{run}-{b}"), ExpectedVersion::NoStream, events)
            .await?;
    }
    Ok((batches * BATCH) as f64 / started.elapsed().as_secs_f64())
}

/// `writers` tasks appending one event per commit, each to its own streams. Writers of different
/// streams don't wait for each other (readers of the global order wait for transactions in
/// flight instead), so this is measured against 8 raw clients committing single rows.
async fn concurrent_single(store: &SqlEventStore, writers: u64, n: u64) -> anyhow::Result<f64> {
    let run = run_id();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, run) = (store.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..n / writers {
                store
                    .append(
                        &format!("w-{run}-{w}-{i}"),
                        ExpectedVersion::NoStream,
                        &[NewEvent::new("Counted", payload(i))],
                    )
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((n / writers * writers) as f64 / started.elapsed().as_secs_f64())
}

/// Reads every event by global position in pages of 1000.
async fn read_all(store: &impl EventStore) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut at, mut count) = (Checkpoint::START, 0u64);
    loop {
        let page = store.read_all(at, 1000).await?;
        let Some(last) = page.last() else { break };
        at = last.checkpoint();
        count += page.len() as u64;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

mod counter {
    //! The aggregate used for the like-for-like comparison with the peer's framework.
    use mspack_eventstore::{Aggregate, DomainEvent};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub struct Counter {
        n: u64,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub enum CounterEvent {
        Counted { n: u64, note: String },
    }

    impl DomainEvent for CounterEvent {
        fn event_type(&self) -> &'static str {
            "Counted"
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    pub struct Never;

    impl Aggregate for Counter {
        const KIND: &'static str = "counter";
        type Command = u64;
        type Event = CounterEvent;
        type Error = Never;

        fn handle(&self, events: u64) -> Result<Vec<CounterEvent>, Never> {
            Ok((0..events)
                .map(|i| CounterEvent::Counted {
                    n: self.n + i,
                    note: "bench".to_owned(),
                })
                .collect())
        }

        fn apply(&mut self, _event: &CounterEvent) {
            self.n += 1;
        }
    }
}

/// Commands through our repository (load, decide, append), each on a new aggregate.
async fn repository_rate(
    store: &impl EventStore,
    commands: u64,
    events: u64,
) -> anyhow::Result<f64> {
    let repo: Repository<counter::Counter, _> = Repository::new(store.clone());
    let run = run_id();
    let meta = Metadata::default();
    let started = Instant::now();
    for c in 0..commands {
        repo.execute(&format!("{run}-{c}"), events, &meta)
            .await
            .map_err(|e| anyhow::anyhow!("execute: {e}"))?;
    }
    Ok((commands * events) as f64 / started.elapsed().as_secs_f64())
}

/// The raw table: same shape as an event row, no function, no lock, no outbox.
async fn raw_table(pool: &PgPool, prefix: &TablePrefix) -> anyhow::Result<()> {
    sqlx::raw_sql(AssertSqlSafe(prefix.render(
        "CREATE TABLE {p}raw (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         stream TEXT NOT NULL, payload JSONB NOT NULL)",
    )))
    .execute(pool)
    .await?;
    Ok(())
}

/// Plain single-row INSERT commits: the ceiling for one event per commit. Returns the rate and
/// the commit latencies (ms).
async fn raw_single(
    pool: &PgPool,
    prefix: &TablePrefix,
    n: u64,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let insert = prefix.render("INSERT INTO {p}raw (stream, payload) VALUES ($1, $2)");
    let mut latencies = Vec::with_capacity(n as usize);
    let started = Instant::now();
    for i in 0..n {
        let one = Instant::now();
        sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(format!("s-{i}"))
            .bind(Json(payload(i)))
            .execute(pool)
            .await?;
        latencies.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((n as f64 / started.elapsed().as_secs_f64(), latencies))
}

/// `clients` connections each committing single-row INSERTs: the ceiling for concurrent writers
/// (PostgreSQL's group commit at work).
async fn raw_single_clients(
    pool: &PgPool,
    prefix: &TablePrefix,
    clients: u64,
    n: u64,
) -> anyhow::Result<f64> {
    let insert = prefix.render("INSERT INTO {p}raw (stream, payload) VALUES ($1, $2)");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (pool, insert) = (pool.clone(), insert.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..n / clients {
                sqlx::query(AssertSqlSafe(insert.clone()))
                    .bind(format!("c{c}-{i}"))
                    .bind(Json(payload(i)))
                    .execute(&pool)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((n / clients * clients) as f64 / started.elapsed().as_secs_f64())
}

/// Plain 100-row INSERT ... SELECT FROM unnest commits: the ceiling for batches.
async fn raw_batches(pool: &PgPool, prefix: &TablePrefix, batches: u64) -> anyhow::Result<f64> {
    let insert_many = prefix.render(
        "INSERT INTO {p}raw (stream, payload) SELECT * FROM unnest($1::text[], $2::jsonb[])",
    );
    let started = Instant::now();
    for b in 0..batches {
        let streams: Vec<String> = (0..BATCH).map(|_| format!("b-{b}")).collect();
        let payloads: Vec<Json<serde_json::Value>> = (0..BATCH).map(|i| Json(payload(i))).collect();
        sqlx::query(AssertSqlSafe(insert_many.clone()))
            .bind(streams)
            .bind(payloads)
            .execute(pool)
            .await?;
    }
    Ok((batches * BATCH) as f64 / started.elapsed().as_secs_f64())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

struct OutboxFigures {
    p50: f64,
    p99: f64,
    append_rate: f64,
    drain_rate: f64,
}

/// Appends one published event at a time and measures commit -> receipt by a NATS subscriber;
/// then appends a backlog with the outbox on and measures how fast a relay drains it.
async fn outbox_latency(
    pool: &PgPool,
    prefix: &TablePrefix,
    samples: u64,
    burst_batches: u64,
) -> anyhow::Result<Option<OutboxFigures>> {
    let nats_url = nats_url_from_env();
    let js = match connect_jetstream(&nats_url).await {
        Ok(js) => js,
        Err(e) => {
            eprintln!("skipping outbox latency: NATS not reachable at {nats_url}: {e}");
            return Ok(None);
        }
    };
    let id = run_id();
    let subject = format!("bench{id}.events");
    let stream = format!("BENCH{id}");
    ensure_stream(&js, &stream, vec![format!("{subject}.>")]).await?;
    let config = StoreConfig::new()
        .with_prefix(TablePrefix::new(format!("{prefix}o_"))?)
        .publish_events(subject.clone());
    let store = SqlEventStore::new(Database::Postgres(pool.clone()), config.clone()).await?;
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        config.prefix().clone(),
        js.clone(),
        RelayConfig::default(),
    )
    .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay_task = tokio::spawn(async move {
        relay
            .run(
                async {
                    let _ = stopped.await;
                },
                |_| {},
            )
            .await;
    });
    let client = async_nats::connect(&nats_url).await?;
    let mut sub = client.subscribe(format!("{subject}.>")).await?;
    client.flush().await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::with_capacity(samples as usize);
    for i in 0..samples + 20 {
        store
            .append(
                &format!("l-{i}"),
                ExpectedVersion::NoStream,
                &[NewEvent::new("Counted", payload(i))],
            )
            .await?;
        let committed = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .context("no message within 5 s")?
            .context("subscription closed")?;
        if i >= 20 {
            latencies.push(committed.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let _ = stop.send(());
    relay_task.await?;

    // A backlog: batches of 100 published events appended with no relay running (each append
    // also writes 100 outbox rows)...
    let started = Instant::now();
    for b in 0..burst_batches {
        let events: Vec<NewEvent> = (0..BATCH)
            .map(|i| NewEvent::new("Counted", payload(i)))
            .collect();
        store
            .append(&format!("burst-{b}"), ExpectedVersion::NoStream, &events)
            .await?;
    }
    let append_rate = (burst_batches * BATCH) as f64 / started.elapsed().as_secs_f64();
    // ...then drained by a fresh relay: the clock stops when the subscriber has the last one.
    let relay = Relay::new(
        Database::Postgres(pool.clone()),
        config.prefix().clone(),
        js.clone(),
        RelayConfig::default(),
    )
    .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let relay_task = tokio::spawn(async move {
        relay
            .run(
                async {
                    let _ = stopped.await;
                },
                |_| {},
            )
            .await;
    });
    for _ in 0..burst_batches * BATCH {
        tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .context("backlog message not received within 10 s")?
            .context("subscription closed")?;
    }
    let drain_rate = (burst_batches * BATCH) as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    relay_task.await?;
    js.delete_stream(&stream).await.ok();
    if std::env::var("MSPACK_BENCH_DUMP").is_ok() {
        let slow: Vec<(usize, f64)> = latencies
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, l)| *l > 2.0)
            .collect();
        eprintln!("slow samples (index, ms): {slow:?}");
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Ok(Some(OutboxFigures {
        p50: pick(0.50),
        p99: pick(0.99),
        append_rate,
        drain_rate,
    }))
}

async fn drop_prefix(pool: &PgPool, prefix: &TablePrefix) {
    let sql = format!(
        "DO $$ DECLARE r record; BEGIN \
         FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '{p}%' LOOP \
           EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP; \
         FOR r IN SELECT proname FROM pg_proc WHERE proname LIKE '{p}%' LOOP \
           EXECUTE 'DROP FUNCTION IF EXISTS ' || quote_ident(r.proname) || ' CASCADE'; END LOOP; END $$",
        p = prefix.as_str()
    );
    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await;
}

async fn sqlite_figures(sizes: &Sizes) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let store = SqlEventStore::open_sqlite(
        path.to_str().context("utf-8 temp path")?,
        StoreConfig::new(),
    )
    .await?;
    figure(
        "sqlite_append_single_event_per_commit",
        append_single(&store, sizes.sqlite_single).await?,
        "events/s",
    );
    figure(
        "sqlite_append_batch_100",
        append_batches(&store, sizes.batches).await?,
        "events/s",
    );
    figure("sqlite_read_all", read_all(&store).await?, "events/s");
    Ok(())
}

async fn postgres_figures(sizes: &Sizes) -> anyhow::Result<()> {
    let url = database_url_from_env();
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("skipping PostgreSQL figures: not reachable at {url}: {e}");
            return Ok(());
        }
    };
    let prefix = TablePrefix::new(format!("bench{}_", run_id()))?;
    let result = if std::env::args().any(|a| a == "outbox") {
        outbox_figures(&pool, &prefix, sizes).await
    } else {
        postgres_run(&pool, &url, &prefix, sizes).await
    };
    drop_prefix(&pool, &prefix).await;
    result
}

/// Only the outbox figures, next to the raw commit latency measured in the same run
/// (`mspack-bench --quick --only outbox`, for working on the relay).
async fn outbox_figures(pool: &PgPool, prefix: &TablePrefix, sizes: &Sizes) -> anyhow::Result<()> {
    raw_table(pool, prefix).await?;
    let (_, latencies) = raw_single(pool, prefix, sizes.single / 5).await?;
    let commit_p50 = median(latencies);
    figure("postgres_commit_p50", commit_p50, "ms");
    if let Some(o) = outbox_latency(pool, prefix, sizes.latency, sizes.batches / 2).await? {
        figure("outbox_commit_to_nats_receive_p50", o.p50, "ms");
        figure("outbox_commit_to_nats_receive_p99", o.p99, "ms");
        figure(
            "ratio_outbox_p99_vs_postgres_commit_p50",
            o.p99 / commit_p50,
            "x",
        );
        figure(
            "outbox_relay_drain_to_nats_receive",
            o.drain_rate,
            "events/s",
        );
    }
    Ok(())
}

async fn postgres_run(
    pool: &PgPool,
    url: &str,
    prefix: &TablePrefix,
    sizes: &Sizes,
) -> anyhow::Result<()> {
    let store = SqlEventStore::new(
        Database::Postgres(pool.clone()),
        StoreConfig::new().with_prefix(prefix.clone()),
    )
    .await?;
    let (events, snapshots) = (
        format!("{prefix}peer_events"),
        format!("{prefix}peer_snapshots"),
    );
    sqlx::raw_sql(AssertSqlSafe(peer::schema(&events, &snapshots)))
        .execute(pool)
        .await?;
    raw_table(pool, prefix).await?;

    // The machine is shared, so the contenders run interleaved in rounds and each figure is the
    // median of its rounds: a burst of load elsewhere hits all of them, not just one.
    const ROUNDS: u64 = 5;
    let mut r: [Vec<f64>; 10] = Default::default();
    let mut commit_latencies = Vec::new();
    for _ in 0..ROUNDS {
        r[0].push(append_single(&store, sizes.single / ROUNDS).await?);
        r[1].push(
            peer::append_rate(url, &events, &snapshots, sizes.peer_single / ROUNDS, 1).await?,
        );
        let (raw_rate, latencies) = raw_single(pool, prefix, sizes.single / ROUNDS).await?;
        r[2].push(raw_rate);
        commit_latencies.extend(latencies);
        r[8].push(concurrent_single(&store, 8, sizes.single / ROUNDS).await?);
        r[9].push(raw_single_clients(pool, prefix, 8, sizes.single / ROUNDS).await?);
        r[3].push(append_batches(&store, sizes.batches / ROUNDS).await?);
        r[4].push(
            peer::append_rate(url, &events, &snapshots, sizes.peer_batches / ROUNDS, BATCH).await?,
        );
        r[5].push(raw_batches(pool, prefix, sizes.batches / ROUNDS).await?);
        r[6].push(repository_rate(&store, sizes.peer_single / ROUNDS, 1).await?);
        r[7].push(repository_rate(&store, sizes.peer_batches / ROUNDS, BATCH).await?);
    }
    let [
        single,
        peer_single,
        raw_single,
        batch,
        peer_batch,
        raw_batch,
        repo_single,
        repo_batch,
        writers,
        raw_clients,
    ] = r.map(median);
    let commit_p50 = median(commit_latencies);
    figure(
        "postgres_append_single_event_per_commit",
        single,
        "events/s",
    );
    figure("postgres_append_batch_100", batch, "events/s");
    figure(
        "postgres_repository_execute_1_event",
        repo_single,
        "events/s",
    );
    figure(
        "postgres_repository_execute_100_events",
        repo_batch,
        "events/s",
    );
    figure(
        "peer_cqrs_es_postgres_append_single_event_per_commit",
        peer_single,
        "events/s",
    );
    figure(
        "peer_cqrs_es_postgres_append_batch_100",
        peer_batch,
        "events/s",
    );
    figure(
        "postgres_raw_insert_single_row_per_commit",
        raw_single,
        "rows/s",
    );
    figure(
        "postgres_raw_insert_100_rows_per_commit",
        raw_batch,
        "rows/s",
    );
    figure("ratio_append_batch_100_vs_peer", batch / peer_batch, "x");
    figure("ratio_append_single_vs_peer", single / peer_single, "x");
    figure(
        "ratio_repository_batch_100_vs_peer",
        repo_batch / peer_batch,
        "x",
    );
    figure(
        "ratio_append_single_vs_raw_postgres",
        single / raw_single,
        "x",
    );
    figure(
        "ratio_append_batch_100_vs_raw_postgres",
        batch / raw_batch,
        "x",
    );
    figure("postgres_read_all", read_all(&store).await?, "events/s");
    figure(
        "postgres_append_single_event_per_commit_8_writers",
        writers,
        "events/s",
    );
    figure(
        "postgres_raw_insert_single_row_per_commit_8_clients",
        raw_clients,
        "rows/s",
    );
    figure(
        "ratio_append_single_8_writers_vs_raw_postgres_8_clients",
        writers / raw_clients,
        "x",
    );
    figure("postgres_commit_p50", commit_p50, "ms");

    if let Some(o) = outbox_latency(pool, prefix, sizes.latency, sizes.batches / 2).await? {
        figure("outbox_commit_to_nats_receive_p50", o.p50, "ms");
        figure("outbox_commit_to_nats_receive_p99", o.p99, "ms");
        figure(
            "ratio_outbox_p99_vs_postgres_commit_p50",
            o.p99 / commit_p50,
            "x",
        );
        figure(
            "postgres_append_batch_100_with_outbox",
            o.append_rate,
            "events/s",
        );
        figure(
            "outbox_relay_drain_to_nats_receive",
            o.drain_rate,
            "events/s",
        );
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("usage: mspack-bench [--quick] [--only outbox]\nprints one JSON line per figure");
        return Ok(());
    }
    let scale = if quick { 5 } else { 25 };
    let sizes = Sizes {
        single: 2000 * scale,
        batches: 200 * scale,
        sqlite_single: 500 * scale,
        peer_single: 1000 * scale,
        peer_batches: 50 * scale,
        latency: 300 * scale,
    };
    let started = Instant::now();
    if !std::env::args().any(|a| a == "outbox") {
        sqlite_figures(&sizes).await.context("sqlite figures")?;
    }
    postgres_figures(&sizes).await.context("postgres figures")?;
    figure("bench_wall_time", started.elapsed().as_secs_f64(), "s");
    Ok(())
}
