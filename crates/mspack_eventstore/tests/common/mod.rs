//! Shared test setup: unique table prefixes, PostgreSQL when reachable (required under CI=true),
//! SQLite always, and the in-memory store.
#![allow(dead_code)]

use mspack_eventstore::{Database, EventStore, SqlEventStore, StoreConfig};
use sqlx::PgPool;

pub use mspack_testkit::{drop_prefix, postgres_pool};

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite_store(config: StoreConfig) -> (SqlEventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("events.db");
    let store = SqlEventStore::open_sqlite(path.to_str().expect("utf-8 temp path"), config)
        .await
        .expect("open sqlite store");
    (store, dir)
}

/// A fresh PostgreSQL store under a unique prefix, or `None` when PostgreSQL is absent.
pub async fn postgres_store(config: StoreConfig) -> Option<(SqlEventStore, PgPool)> {
    let pool = postgres_pool().await?;
    let config = config.with_prefix(mspack_testkit::names().prefix);
    let store = SqlEventStore::new(Database::Postgres(pool.clone()), config)
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
                store,
                _dir: Some(dir),
                pg: None,
            })
        }
        Backend::Postgres => {
            let (store, pool) = postgres_store(config).await?;
            Some(Fixture {
                store,
                _dir: None,
                pg: Some(pool),
            })
        }
    }
}

/// A store plus what keeps it alive and cleans it up.
pub struct Fixture {
    pub store: SqlEventStore,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgPool>,
}

impl Fixture {
    /// Drops the PostgreSQL tables of this test.
    pub async fn cleanup(self) {
        if let Some(pool) = &self.pg {
            drop_prefix(pool, self.store.config().prefix()).await;
        }
    }

    /// The database underneath.
    pub fn database(&self) -> Database {
        self.store.database().clone()
    }

    /// Counts the rows of `<prefix><table>`.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {{p}}{table}");
        mspack_testkit::scalar(self.store.database(), self.store.config().prefix(), &sql).await
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
