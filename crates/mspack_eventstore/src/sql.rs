//! The one SQL layer of the consistency crates (event store, outbox, inbox, sagas): a database and
//! a transaction on either backend, statements written once per backend with the table prefix
//! filled in, and dynamically typed arguments and rows, so the code that runs a statement and
//! reads its rows is written once for both backends.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{
    AssertSqlSafe, Connection, PgConnection, Postgres, Row, SqlSafeStr, SqlStr, Sqlite,
    SqliteConnection, Transaction, TypeInfo, ValueRef,
};
use uuid::Uuid;

use crate::config::TablePrefix;
use crate::error::StoreError;

/// The PostgreSQL URL used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `DATABASE_URL` from the environment, or [`DEFAULT_DATABASE_URL`].
pub fn database_url_from_env() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// Which database engine a [`Database`] or [`Tx`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (embedded; one writer at a time).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool to one of the two supported databases.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite in WAL mode with `synchronous = FULL` (a commit survives power loss).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// A transaction on either backend. Every write of the event store, the outbox, the inbox and
/// the saga orchestrator can run in one of these, so that a consumer's inbox row, its events and
/// its outgoing messages commit together. Dropping it without [`Tx::commit`] rolls back.
///
/// On SQLite it starts with `BEGIN IMMEDIATE` (the write lock is taken up front, so two writers
/// never deadlock upgrading a read lock); on PostgreSQL with `READ COMMITTED` whatever the
/// server's default, because the append's version check relies on it.
#[derive(Debug)]
pub enum Tx {
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

/// A statement written once per backend, with `{p}` (the table prefix), `{now_ms}` and
/// `{now_us}` (the database clock, in milliseconds or microseconds since the Unix epoch) filled
/// in. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sql {
    sqlite: Arc<str>,
    postgres: Arc<str>,
}

const NOW_MS_SQLITE: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
const NOW_US_SQLITE: &str = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)";
const NOW_MS_POSTGRES: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
const NOW_US_POSTGRES: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

impl Sql {
    /// A statement with a different text per backend.
    pub fn new(prefix: &TablePrefix, sqlite: &str, postgres: &str) -> Self {
        let render = |text: &str, ms: &str, us: &str| -> Arc<str> {
            prefix
                .render(text)
                .replace("{now_ms}", ms)
                .replace("{now_us}", us)
                .into()
        };
        Sql {
            sqlite: render(sqlite, NOW_MS_SQLITE, NOW_US_SQLITE),
            postgres: render(postgres, NOW_MS_POSTGRES, NOW_US_POSTGRES),
        }
    }

    /// A statement whose text is the same on both backends.
    pub fn both(prefix: &TablePrefix, text: &str) -> Self {
        Self::new(prefix, text, text)
    }

    /// The text for `backend`.
    pub fn text(&self, backend: Backend) -> &str {
        match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        }
    }

    fn sql_str(&self, backend: Backend) -> SqlStr {
        let text = match backend {
            Backend::Sqlite => self.sqlite.clone(),
            Backend::Postgres => self.postgres.clone(),
        };
        AssertSqlSafe(text).into_sql_str()
    }
}

/// An argument of a statement. `NULL`s carry their type, because PostgreSQL types parameters by
/// what the client declares.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// An integer (or NULL).
    Int(Option<i64>),
    /// A text (or NULL). For a PostgreSQL `uuid` or `jsonb` column, cast in the statement
    /// (`$1::uuid`, `$2::jsonb`).
    Text(Option<&'a str>),
    /// Bytes (or NULL).
    Bytes(Option<&'a [u8]>),
    /// A floating point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v.as_str()))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(Some(v))
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl From<f64> for Arg<'_> {
    fn from(v: f64) -> Self {
        Arg::Float(v)
    }
}

/// A value read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer of any width.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A boolean.
    Bool(bool),
}

/// A row, its columns decoded into [`Value`]s. Accessors take the column's index and say which
/// column failed to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlRow {
    columns: Vec<Value>,
}

fn corrupt(what: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { what, detail }
}

impl SqlRow {
    fn get(&self, i: usize, what: &'static str) -> Result<&Value, StoreError> {
        self.columns
            .get(i)
            .ok_or_else(|| corrupt(what, format!("column {i} missing")))
    }

    /// An integer column.
    pub fn int(&self, i: usize, what: &'static str) -> Result<i64, StoreError> {
        self.opt_int(i, what)?
            .ok_or_else(|| corrupt(what, "unexpected NULL".to_owned()))
    }

    /// A nullable integer column.
    pub fn opt_int(&self, i: usize, what: &'static str) -> Result<Option<i64>, StoreError> {
        match self.get(i, what)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Bool(b) => Ok(Some(i64::from(*b))),
            Value::Text(t) => t
                .parse()
                .map(Some)
                .map_err(|e| corrupt(what, format!("{t:?}: {e}"))),
            other => Err(corrupt(
                what,
                format!("expected an integer, found {other:?}"),
            )),
        }
    }

    /// A non-negative integer column.
    pub fn u64(&self, i: usize, what: &'static str) -> Result<u64, StoreError> {
        let v = self.int(i, what)?;
        u64::try_from(v).map_err(|_| StoreError::OutOfRange {
            what,
            value: v.into(),
        })
    }

    /// A text column.
    pub fn text(&self, i: usize, what: &'static str) -> Result<String, StoreError> {
        self.opt_text(i, what)?
            .ok_or_else(|| corrupt(what, "unexpected NULL".to_owned()))
    }

    /// A nullable text column.
    pub fn opt_text(&self, i: usize, what: &'static str) -> Result<Option<String>, StoreError> {
        match self.get(i, what)? {
            Value::Null => Ok(None),
            Value::Text(t) => Ok(Some(t.clone())),
            Value::Bytes(b) => String::from_utf8(b.clone())
                .map(Some)
                .map_err(|e| corrupt(what, e.to_string())),
            Value::Int(v) => Ok(Some(v.to_string())),
            other => Err(corrupt(what, format!("expected text, found {other:?}"))),
        }
    }

    /// A bytes column (text is taken as its UTF-8 bytes).
    pub fn bytes(&self, i: usize, what: &'static str) -> Result<Vec<u8>, StoreError> {
        match self.get(i, what)? {
            Value::Bytes(b) => Ok(b.clone()),
            Value::Text(t) => Ok(t.clone().into_bytes()),
            other => Err(corrupt(what, format!("expected bytes, found {other:?}"))),
        }
    }

    /// A UUID stored as text (SQLite) or cast to text (PostgreSQL).
    pub fn uuid(&self, i: usize, what: &'static str) -> Result<Uuid, StoreError> {
        let text = self.text(i, what)?;
        Uuid::parse_str(&text).map_err(|e| corrupt(what, format!("{text:?}: {e}")))
    }

    /// A nullable UUID.
    pub fn opt_uuid(&self, i: usize, what: &'static str) -> Result<Option<Uuid>, StoreError> {
        self.opt_text(i, what)?
            .map(|t| Uuid::parse_str(&t).map_err(|e| corrupt(what, format!("{t:?}: {e}"))))
            .transpose()
    }

    /// A JSON document stored as text (or cast to text).
    pub fn json(&self, i: usize, what: &'static str) -> Result<serde_json::Value, StoreError> {
        let text = self.text(i, what)?;
        serde_json::from_str(&text).map_err(|e| corrupt(what, e.to_string()))
    }

    /// A boolean (SQLite stores 0/1).
    pub fn bool(&self, i: usize, what: &'static str) -> Result<bool, StoreError> {
        match self.get(i, what)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(v) => Ok(*v != 0),
            other => Err(corrupt(
                what,
                format!("expected a boolean, found {other:?}"),
            )),
        }
    }
}

fn decode_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<SqlRow, sqlx::Error> {
    let mut columns = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            columns.push(Value::Null);
            continue;
        }
        let kind = raw.type_info().name().to_ascii_uppercase();
        columns.push(match kind.as_str() {
            "INTEGER" | "INT" | "BIGINT" | "INT8" | "BOOLEAN" => Value::Int(row.try_get(i)?),
            "REAL" | "FLOAT" | "DOUBLE" => Value::Float(row.try_get(i)?),
            "BLOB" => Value::Bytes(row.try_get(i)?),
            _ => Value::Text(row.try_get(i)?),
        });
    }
    Ok(SqlRow { columns })
}

fn decode_postgres(row: &sqlx::postgres::PgRow) -> Result<SqlRow, sqlx::Error> {
    let mut columns = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            columns.push(Value::Null);
            continue;
        }
        let kind = raw.type_info().name().to_owned();
        columns.push(match kind.as_str() {
            "INT8" => Value::Int(row.try_get(i)?),
            "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
            "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
            "BOOL" => Value::Bool(row.try_get(i)?),
            "FLOAT8" => Value::Float(row.try_get(i)?),
            "FLOAT4" => Value::Float(row.try_get::<f32, _>(i)?.into()),
            "BYTEA" => Value::Bytes(row.try_get(i)?),
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => Value::Text(row.try_get(i)?),
            other => {
                return Err(sqlx::Error::Decode(
                    format!("column {i} has type {other}; cast it to text in the statement").into(),
                ));
            }
        });
    }
    Ok(SqlRow { columns })
}

macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
                Arg::Float(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
            };
        }
        query
    }};
}

/// Runs `$body` with `$conn` bound to the SQLite or PostgreSQL executor of `$target` (a
/// [`Database`] or a [`Tx`]), the same code for both.
macro_rules! on_backend {
    (db $target:expr, $conn:ident => $sqlite:expr, $postgres:expr) => {
        match $target {
            Database::Sqlite($conn) => $sqlite,
            Database::Postgres($conn) => $postgres,
        }
    };
    (tx $target:expr, $conn:ident => $sqlite:expr, $postgres:expr) => {
        match $target {
            Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $sqlite
            }
            Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $postgres
            }
        }
    };
}

macro_rules! run_statements {
    ($kind:ident $(, $m:tt)?) => {
        /// Runs a statement; returns the number of rows it changed.
        pub async fn execute(&$($m)? self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
            let backend = self.backend();
            let text = sql.sql_str(backend);
            on_backend!($kind self, c =>
                bind_args!(sqlx::query(text), args).execute(c).await.map(|r| r.rows_affected()),
                bind_args!(sqlx::query(text), args).execute(c).await.map(|r| r.rows_affected()))
        }

        /// Runs a query; returns every row.
        pub async fn fetch_all(
            &$($m)? self,
            sql: &Sql,
            args: &[Arg<'_>],
        ) -> Result<Vec<SqlRow>, sqlx::Error> {
            let backend = self.backend();
            let text = sql.sql_str(backend);
            on_backend!($kind self, c => {
                let rows = bind_args!(sqlx::query(text), args).fetch_all(c).await?;
                rows.iter().map(decode_sqlite).collect()
            }, {
                let rows = bind_args!(sqlx::query(text), args).fetch_all(c).await?;
                rows.iter().map(decode_postgres).collect()
            })
        }

        /// Runs a query; returns its first row, if any.
        pub async fn fetch_optional(
            &$($m)? self,
            sql: &Sql,
            args: &[Arg<'_>],
        ) -> Result<Option<SqlRow>, sqlx::Error> {
            let backend = self.backend();
            let text = sql.sql_str(backend);
            on_backend!($kind self, c => {
                let row = bind_args!(sqlx::query(text), args).fetch_optional(c).await?;
                row.as_ref().map(decode_sqlite).transpose()
            }, {
                let row = bind_args!(sqlx::query(text), args).fetch_optional(c).await?;
                row.as_ref().map(decode_postgres).transpose()
            })
        }

        /// Runs a query that returns exactly one row.
        pub async fn fetch_one(&$($m)? self, sql: &Sql, args: &[Arg<'_>]) -> Result<SqlRow, sqlx::Error> {
            self.fetch_optional(sql, args).await?.ok_or(sqlx::Error::RowNotFound)
        }
    };
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

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Database::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Database::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
                    .await?,
            ),
        })
    }

    run_statements!(db);
}

impl Tx {
    run_statements!(tx, mut);

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls back (dropping the transaction does the same, without waiting).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }

    /// The SQLite connection, for the caller's own statements in this transaction.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match self {
            Tx::Sqlite(tx) => Some(&mut **tx),
            Tx::Postgres(_) => None,
        }
    }

    /// The PostgreSQL connection, for the caller's own statements in this transaction.
    pub fn as_postgres(&mut self) -> Option<&mut PgConnection> {
        match self {
            Tx::Postgres(tx) => Some(&mut **tx),
            Tx::Sqlite(_) => None,
        }
    }

    /// Starts a savepoint: work on the returned transaction, then commit it (release) or drop it
    /// (roll back to the savepoint); the outer transaction goes on either way.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => Savepoint::Sqlite(Connection::begin(&mut **tx).await?),
            Tx::Postgres(tx) => Savepoint::Postgres(Connection::begin(&mut **tx).await?),
        })
    }
}

/// A savepoint inside a [`Tx`].
#[derive(Debug)]
pub enum Savepoint<'t> {
    /// On SQLite.
    Sqlite(Transaction<'t, Sqlite>),
    /// On PostgreSQL.
    Postgres(Transaction<'t, Postgres>),
}

impl Savepoint<'_> {
    /// Releases the savepoint, keeping its work in the outer transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Savepoint::Sqlite(tx) => tx.commit().await,
            Savepoint::Postgres(tx) => tx.commit().await,
        }
    }

    /// The SQLite connection.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match self {
            Savepoint::Sqlite(tx) => Some(&mut **tx),
            Savepoint::Postgres(_) => None,
        }
    }

    /// The PostgreSQL connection.
    pub fn as_postgres(&mut self) -> Option<&mut PgConnection> {
        match self {
            Savepoint::Postgres(tx) => Some(&mut **tx),
            Savepoint::Sqlite(_) => None,
        }
    }
}

/// Runs a statement on a PostgreSQL connection (one inside a caller's transaction).
pub(crate) async fn run_on_pg(
    conn: &mut PgConnection,
    sql: &Sql,
    args: &[Arg<'_>],
) -> Result<u64, sqlx::Error> {
    bind_args!(sqlx::query(sql.sql_str(Backend::Postgres)), args)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// Runs a query on a PostgreSQL connection.
pub(crate) async fn rows_on_pg(
    conn: &mut PgConnection,
    sql: &Sql,
    args: &[Arg<'_>],
) -> Result<Vec<SqlRow>, sqlx::Error> {
    let rows = bind_args!(sqlx::query(sql.sql_str(Backend::Postgres)), args)
        .fetch_all(conn)
        .await?;
    rows.iter().map(decode_postgres).collect()
}

/// Something statements run on: a [`Database`] (each statement on a pooled connection, in its own
/// implicit transaction) or a [`Tx`]. Code that must work in and out of a transaction takes
/// `&mut impl Executor`.
pub trait Executor: Send {
    /// Runs a statement; returns the number of rows it changed.
    fn run(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
    ) -> impl std::future::Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Runs a query; returns every row.
    fn rows(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
    ) -> impl std::future::Future<Output = Result<Vec<SqlRow>, sqlx::Error>> + Send;

    /// Runs a query; returns its first row, if any.
    fn row(
        &mut self,
        sql: &Sql,
        args: &[Arg<'_>],
    ) -> impl std::future::Future<Output = Result<Option<SqlRow>, sqlx::Error>> + Send;
}

impl Executor for &Database {
    async fn run(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        Database::execute(self, sql, args).await
    }

    async fn rows(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Vec<SqlRow>, sqlx::Error> {
        Database::fetch_all(self, sql, args).await
    }

    async fn row(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<SqlRow>, sqlx::Error> {
        Database::fetch_optional(self, sql, args).await
    }
}

impl Executor for Tx {
    async fn run(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        self.execute(sql, args).await
    }

    async fn rows(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Vec<SqlRow>, sqlx::Error> {
        self.fetch_all(sql, args).await
    }

    async fn row(&mut self, sql: &Sql, args: &[Arg<'_>]) -> Result<Option<SqlRow>, sqlx::Error> {
        self.fetch_optional(sql, args).await
    }
}

/// Whether `e` is a lost connection, a terminated backend or a timeout: worth retrying after a
/// pause, unlike a constraint or syntax error.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            // 57P01 admin_shutdown (pg_terminate_backend), 57P02/57P03, 08xxx connection
            // exceptions, 40001/40P01 serialization failure and deadlock; SQLite busy/locked.
            let code = db.code().unwrap_or_default();
            code.starts_with("08")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
                || code == "5"
                || code == "6"
                || code == "517"
        }
        _ => false,
    }
}

/// Microseconds since the Unix epoch of `at` (clamped to the `i64` range).
pub(crate) fn unix_micros(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The instant `micros` microseconds after the Unix epoch (clamped at the epoch).
pub(crate) fn from_unix_micros(micros: i64) -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// A `usize` count as the `i64` SQL wants.
pub(crate) fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
