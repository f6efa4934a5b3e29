//! Shared test setup: unique table prefixes, PostgreSQL when reachable, SQLite always.
#![allow(dead_code)]

use std::time::Duration;

use mspack_eventstore::{
    AnyEventStore, Database, PostgresEventStore, SqliteEventStore, StoreConfig, TablePrefix,
    database_url_from_env,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// A prefix no other test (or earlier run) uses.
pub fn unique_prefix() -> TablePrefix {
    let id = uuid::Uuid::new_v4().simple().to_string();
    TablePrefix::new(format!("t{}_", &id[..12])).expect("generated prefix is valid")
}

/// A pool to the test PostgreSQL, or `None` (after printing why) when it is not reachable.
pub async fn postgres_pool() -> Option<PgPool> {
    let url = database_url_from_env();
    match PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => Some(pool),
        Err(e) => {
            eprintln!("skipping: PostgreSQL not reachable at {url}: {e}");
            None
        }
    }
}

/// Drops every table and function whose name starts with `prefix` (best effort).
pub async fn drop_prefix(pool: &PgPool, prefix: &TablePrefix) {
    let sql = format!(
        "DO $$ DECLARE r record; BEGIN \
         FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '{p}%' LOOP \
           EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP; \
         EXECUTE 'DROP FUNCTION IF EXISTS {p}append CASCADE'; END $$",
        p = prefix.as_str()
    );
    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(pool).await;
}

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite_store(config: StoreConfig) -> (SqliteEventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("events.db");
    let store = SqliteEventStore::open(path.to_str().expect("utf-8 temp path"), config)
        .await
        .expect("open sqlite store");
    (store, dir)
}

/// A fresh PostgreSQL store under a unique prefix, or `None` when PostgreSQL is absent.
pub async fn postgres_store(config: StoreConfig) -> Option<(PostgresEventStore, PgPool)> {
    let pool = postgres_pool().await?;
    let config = config.with_prefix(unique_prefix());
    let store = PostgresEventStore::new(pool.clone(), config)
        .await
        .expect("open postgres store");
    Some((store, pool))
}

/// A store on either backend, for tests that run on both.
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens a fresh store of `backend`; `None` when it is PostgreSQL and the server is absent.
pub async fn store(backend: Backend, config: StoreConfig) -> Option<Fixture> {
    match backend {
        Backend::Sqlite => {
            let (store, dir) = sqlite_store(config).await;
            Some(Fixture {
                store: AnyEventStore::Sqlite(store),
                _dir: Some(dir),
                pg: None,
            })
        }
        Backend::Postgres => {
            let (store, pool) = postgres_store(config).await?;
            Some(Fixture {
                store: AnyEventStore::Postgres(store),
                _dir: None,
                pg: Some(pool),
            })
        }
    }
}

/// A store plus what keeps it alive and cleans it up.
pub struct Fixture {
    pub store: AnyEventStore,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgPool>,
}

impl Fixture {
    /// Drops the PostgreSQL tables of this test.
    pub async fn cleanup(self) {
        use mspack_eventstore::EventStore;
        if let Some(pool) = &self.pg {
            drop_prefix(pool, self.store.config().prefix()).await;
        }
    }

    /// The database underneath.
    pub fn database(&self) -> Database {
        use mspack_eventstore::EventStore;
        self.store.database().clone()
    }
}

/// Generates one test per backend from `async fn $body(store: &Fixture)`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $config:expr, $body:path) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let fixture = common::store(common::Backend::Sqlite, $config)
                    .await
                    .expect("sqlite is always available");
                $body(&fixture).await;
                fixture.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(fixture) = common::store(common::Backend::Postgres, $config).await else {
                    return;
                };
                $body(&fixture).await;
                fixture.cleanup().await;
            }
        }
    };
}
