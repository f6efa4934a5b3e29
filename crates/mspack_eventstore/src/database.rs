//! Opening a database: SQLite (a file or `:memory:`) or PostgreSQL, chosen by URL.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;

/// The PostgreSQL URL used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `DATABASE_URL` from the environment, or [`DEFAULT_DATABASE_URL`].
pub fn database_url_from_env() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// A connection pool to one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite in WAL mode with `synchronous = FULL` (a commit survives power loss).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl Database {
    /// Opens `url`: `postgres://...` or `postgresql://...` for PostgreSQL; `sqlite:<path>`,
    /// `sqlite::memory:`, `:memory:` or a plain file path for SQLite.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::connect_postgres(url).await;
        }
        if url == ":memory:" || url == "sqlite::memory:" {
            return Self::sqlite_in_memory().await;
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Self::open_sqlite(path).await;
        }
        if url.contains("://") {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        Self::open_sqlite(url).await
    }

    /// Opens (creating if missing) an SQLite file in WAL mode with `synchronous = FULL`.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(StoreError::database("opening sqlite"))?;
        Ok(Database::Sqlite(pool))
    }

    /// A private in-memory SQLite database (one connection, gone when the pool is dropped).
    pub async fn sqlite_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(StoreError::database("opening sqlite in memory"))?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::database("opening sqlite in memory"))?;
        Ok(Database::Sqlite(pool))
    }

    /// Connects to PostgreSQL.
    pub async fn connect_postgres(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::database("connecting to postgres"))?;
        Ok(Database::Postgres(pool))
    }

    /// The backend's name, `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}
