//! One migration story for both backends: numbered steps per component, applied once, in order,
//! under a lock, recorded in `<prefix>schema_migrations`.

use sqlx::{AssertSqlSafe, Connection};

use crate::config::TablePrefix;
use crate::error::StoreError;
use crate::sql::Database;

/// One schema change, written once per backend. `{p}` in the SQL stands for the table prefix.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Position in the component's sequence, starting at 1; never renumber a released one.
    pub version: i64,
    /// What the step does.
    pub description: &'static str,
    /// The SQL for SQLite (several statements allowed).
    pub sqlite: &'static str,
    /// The SQL for PostgreSQL (several statements allowed).
    pub postgres: &'static str,
}

const LEDGER_SQLITE: &str = "CREATE TABLE IF NOT EXISTS {p}schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT NOT NULL,
    applied_at INTEGER NOT NULL DEFAULT (unixepoch()),
    PRIMARY KEY (component, version))";

const LEDGER_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS {p}schema_migrations (
    component TEXT NOT NULL,
    version BIGINT NOT NULL,
    description TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version))";

/// Applies the `migrations` of `component` that the database has not seen yet, idempotently:
/// safe to call on every start, from several processes at once.
pub async fn migrate(
    db: &Database,
    prefix: &TablePrefix,
    component: &str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    let op = "applying migrations";
    let select = prefix
        .render("SELECT coalesce(max(version), 0) FROM {p}schema_migrations WHERE component = $1");
    let record = prefix.render(
        "INSERT INTO {p}schema_migrations (component, version, description) VALUES ($1, $2, $3)",
    );
    // The ledger and the pending migrations run the same way on both backends, inside the
    // transaction each backend opens its own way; only the SQL dialect differs.
    macro_rules! apply_pending {
        ($tx:ident, $ledger:expr, $sql:ident) => {{
            sqlx::raw_sql(AssertSqlSafe(prefix.render($ledger)))
                .execute(&mut *$tx)
                .await
                .map_err(StoreError::database(op))?;
            let current: i64 = sqlx::query_scalar(AssertSqlSafe(select))
                .bind(component)
                .fetch_one(&mut *$tx)
                .await
                .map_err(StoreError::database(op))?;
            for m in migrations.iter().filter(|m| m.version > current) {
                sqlx::raw_sql(AssertSqlSafe(prefix.render(m.$sql)))
                    .execute(&mut *$tx)
                    .await
                    .map_err(StoreError::database(op))?;
                sqlx::query(AssertSqlSafe(record.clone()))
                    .bind(component)
                    .bind(m.version)
                    .bind(m.description)
                    .execute(&mut *$tx)
                    .await
                    .map_err(StoreError::database(op))?;
            }
            $tx.commit().await.map_err(StoreError::database(op))
        }};
    }
    match db {
        Database::Sqlite(pool) => {
            let mut conn = pool.acquire().await.map_err(StoreError::database(op))?;
            let mut tx = conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(StoreError::database(op))?;
            apply_pending!(tx, LEDGER_SQLITE, sqlite)
        }
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await.map_err(StoreError::database(op))?;
            // One migrator per prefix at a time, across processes.
            sqlx::query("SELECT pg_advisory_xact_lock(1836282987, hashtext($1))")
                .bind(format!("{prefix}migrate"))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::database(op))?;
            apply_pending!(tx, LEDGER_POSTGRES, postgres)
        }
    }
}
