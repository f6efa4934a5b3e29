//! Test support for the consistency crates and the example system.
//!
//! Tests of code that talks to PostgreSQL or NATS JetStream use the real servers
//! (`DATABASE_URL`, `NATS_URL`, loopback defaults; `scripts/ci-services.sh` provides them). When a
//! server is absent, a test skips with a reason on standard error, except under `CI=true`, where
//! it fails: CI must never pass by skipping.
//!
//! [`NatsServer`] starts a private nats-server process (2.10+, installed into `target/` by
//! `scripts/nats-server.sh`) for tests that kill, restart or cluster the broker.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod checkov;
mod natsd;

use std::time::Duration;

use mspack_eventstore::{TablePrefix, database_url_from_env};
use sqlx::{AssertSqlSafe, PgPool};

pub use checkov::{CheckovReport, checkov, checkov_binary};
pub use natsd::{NatsServer, nats_server_binary};

/// True under `CI=true` (or `CI=1`): a missing server fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (prints why, returns `None`) or, in CI, panics: `what` is unavailable.
pub fn unavailable<T>(what: &str, why: impl std::fmt::Display) -> Option<T> {
    assert!(
        !in_ci(),
        "{what} is required under CI=true but unavailable: {why}"
    );
    eprintln!("skipping: {what} unavailable: {why}");
    None
}

/// Runs one of the project's scripts (`scripts/<name>`) once per test process, so `cargo test`
/// starts (or installs) the servers it needs by itself; true if it succeeded.
pub fn run_script_once(name: &'static str) -> bool {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static DONE: OnceLock<Mutex<HashMap<&'static str, bool>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut done = done
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *done.entry(name).or_insert_with(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts")
            .join(name);
        eprintln!("starting test services: bash {}", script.display());
        std::process::Command::new("bash")
            .arg(&script)
            .stdout(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    })
}

async fn connect_postgres(url: &str) -> Result<PgPool, sqlx::Error> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

/// A pool to the test PostgreSQL (`DATABASE_URL`), starting it with `scripts/ci-services.sh` if
/// it is not running; `None` after [`unavailable`] when that fails too.
pub async fn postgres_pool() -> Option<PgPool> {
    let url = database_url_from_env();
    if let Ok(pool) = connect_postgres(&url).await {
        return Some(pool);
    }
    let started = tokio::task::spawn_blocking(|| run_script_once("ci-services.sh"))
        .await
        .unwrap_or(false);
    match connect_postgres(&url).await {
        Ok(pool) => Some(pool),
        Err(e) => unavailable(
            &format!("PostgreSQL at {url}"),
            format!("{e} (scripts/ci-services.sh succeeded: {started})"),
        ),
    }
}

/// NATS URL from `NATS_URL` or the loopback default.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

async fn connect_nats(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
}

/// A client of the test NATS server (`NATS_URL`), starting it with `scripts/ci-services.sh` if
/// it is not running; `None` after [`unavailable`] when that fails too.
pub async fn nats() -> Option<async_nats::Client> {
    let url = nats_url();
    if let Ok(client) = connect_nats(&url).await {
        return Some(client);
    }
    let started = tokio::task::spawn_blocking(|| run_script_once("ci-services.sh"))
        .await
        .unwrap_or(false);
    match connect_nats(&url).await {
        Ok(client) => Some(client),
        Err(e) => unavailable(
            &format!("NATS at {url}"),
            format!("{e} (scripts/ci-services.sh succeeded: {started})"),
        ),
    }
}

/// Names no other test (or earlier run) uses: a table prefix, a subject root and a stream name.
#[derive(Debug, Clone)]
pub struct Names {
    /// Table prefix, `t<12 hex>_`.
    pub prefix: TablePrefix,
    /// Subject root, `t<12 hex>`.
    pub subject: String,
    /// JetStream stream name, `T<12 hex>`.
    pub stream: String,
}

/// Fresh [`Names`].
pub fn names() -> Names {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let id = &id[..12];
    Names {
        prefix: TablePrefix::new(format!("t{id}_")).expect("generated prefix is valid"),
        subject: format!("t{id}"),
        stream: format!("T{id}"),
    }
}

/// Drops every table and function whose name starts with `prefix` (best effort).
pub async fn drop_prefix(pool: &PgPool, prefix: &TablePrefix) {
    let sql = format!(
        "DO $$ DECLARE r record; BEGIN \
         FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() \
           AND tablename LIKE '{p}%' LOOP \
           EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP; \
         FOR r IN SELECT oid::regprocedure AS f FROM pg_proc WHERE proname LIKE '{p}%' LOOP \
           EXECUTE 'DROP FUNCTION IF EXISTS ' || r.f || ' CASCADE'; END LOOP; END $$",
        p = prefix.as_str()
    );
    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await;
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns the last answer.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `sql` (`{p}` for the prefix; several statements allowed) on `db`.
pub async fn exec(db: &mspack_eventstore::Database, prefix: &TablePrefix, sql: &str) {
    use mspack_eventstore::Database;
    let sql = prefix.render(sql);
    match db {
        Database::Sqlite(p) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()),
        Database::Postgres(p) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()),
    }
    .expect("statement");
}

/// Runs `sql` inside `tx`.
pub async fn exec_in(tx: &mut mspack_eventstore::Tx, prefix: &TablePrefix, sql: &str) {
    use mspack_eventstore::Tx;
    let sql = prefix.render(sql);
    match tx {
        Tx::Sqlite(t) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut **t)
            .await
            .map(|_| ()),
        Tx::Postgres(t) => sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut **t)
            .await
            .map(|_| ()),
    }
    .expect("statement in transaction");
}

/// The single integer `sql` returns (`{p}` for the prefix), e.g. a count.
pub async fn scalar(db: &mspack_eventstore::Database, prefix: &TablePrefix, sql: &str) -> i64 {
    use mspack_eventstore::Database;
    let sql = prefix.render(sql);
    match db {
        Database::Sqlite(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
        Database::Postgres(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
    }
    .expect("scalar query")
}
