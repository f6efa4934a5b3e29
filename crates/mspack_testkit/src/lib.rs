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

mod natsd;

use std::time::Duration;

use mspack_eventstore::{TablePrefix, database_url_from_env};
use sqlx::{AssertSqlSafe, PgPool};

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

/// A pool to the test PostgreSQL (`DATABASE_URL`), or `None` after [`unavailable`].
pub async fn postgres_pool() -> Option<PgPool> {
    let url = database_url_from_env();
    match sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
    {
        Ok(pool) => Some(pool),
        Err(e) => unavailable(&format!("PostgreSQL at {url}"), e),
    }
}

/// NATS URL from `NATS_URL` or the loopback default.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A client of the test NATS server (`NATS_URL`), or `None` after [`unavailable`].
pub async fn nats() -> Option<async_nats::Client> {
    let url = nats_url();
    match async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(client) => Some(client),
        Err(e) => unavailable(&format!("NATS at {url}"), e),
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
