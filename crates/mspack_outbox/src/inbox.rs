//! The inbox: a consumer records each processed message id in the same transaction as the
//! message's effects, so a redelivered message changes nothing the second time.

use mspack_eventstore::{Database, Migration, OutboxMessage, TablePrefix, migrate, migrate_store};
use sqlx::{AssertSqlSafe, Postgres, Sqlite, Transaction};
use uuid::Uuid;

use crate::enqueue::{enqueue_postgres, enqueue_sqlite};
use crate::error::OutboxError;

const COMPONENT: &str = "inbox";

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "inbox of processed message ids per consumer",
    sqlite: "CREATE TABLE {p}inbox (
        consumer TEXT NOT NULL,
        message_id TEXT NOT NULL,
        processed_at INTEGER NOT NULL DEFAULT (unixepoch()),
        PRIMARY KEY (consumer, message_id))",
    postgres: "CREATE TABLE {p}inbox (
        consumer TEXT NOT NULL,
        message_id UUID NOT NULL,
        processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id))",
}];

/// The processed-message ledger of one consumer.
#[derive(Debug, Clone)]
pub struct Inbox {
    db: Database,
    prefix: TablePrefix,
    consumer: String,
}

/// A transaction in which a message counts as processed. Do the message's effects on it (and
/// enqueue any replies with [`InboxTransaction::enqueue`]), then [`InboxTransaction::commit`].
/// Dropping it without committing rolls everything back, so the message can be processed again.
#[derive(Debug)]
pub enum InboxTransaction {
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

impl Inbox {
    /// The inbox of `consumer` in `db` under `prefix`, creating its table if needed.
    pub async fn new(
        db: Database,
        prefix: TablePrefix,
        consumer: impl Into<String>,
    ) -> Result<Self, OutboxError> {
        migrate_store(&db, &prefix).await?;
        migrate(&db, &prefix, COMPONENT, MIGRATIONS).await?;
        Ok(Inbox {
            db,
            prefix,
            consumer: consumer.into(),
        })
    }

    /// Starts processing `message_id`: `None` if this consumer already processed it (ack it
    /// and move on), otherwise a transaction that records it once committed.
    pub async fn begin(&self, message_id: Uuid) -> Result<Option<InboxTransaction>, OutboxError> {
        let op = "recording a message in the inbox";
        let sql = self.prefix.render(
            "INSERT INTO {p}inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        );
        match &self.db {
            Database::Sqlite(pool) => {
                let mut tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(OutboxError::database(op))?;
                let done = sqlx::query(AssertSqlSafe(sql))
                    .bind(&self.consumer)
                    .bind(message_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(OutboxError::database(op))?;
                Ok((done.rows_affected() == 1).then_some(InboxTransaction::Sqlite(tx)))
            }
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(OutboxError::database(op))?;
                // A concurrent consumer holding the same id blocks here until it commits (then
                // this insert does nothing) or rolls back (then this one proceeds).
                let done = sqlx::query(AssertSqlSafe(sql))
                    .bind(&self.consumer)
                    .bind(message_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(OutboxError::database(op))?;
                Ok((done.rows_affected() == 1).then_some(InboxTransaction::Postgres(tx)))
            }
        }
    }

    /// Whether this consumer has committed `message_id`.
    pub async fn is_processed(&self, message_id: Uuid) -> Result<bool, OutboxError> {
        let op = "reading the inbox";
        let sql = self
            .prefix
            .render("SELECT count(*) FROM {p}inbox WHERE consumer = $1 AND message_id = $2");
        let n: i64 = match &self.db {
            Database::Sqlite(pool) => sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(&self.consumer)
                .bind(message_id.to_string())
                .fetch_one(pool)
                .await
                .map_err(OutboxError::database(op))?,
            Database::Postgres(pool) => sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(&self.consumer)
                .bind(message_id)
                .fetch_one(pool)
                .await
                .map_err(OutboxError::database(op))?,
        };
        Ok(n > 0)
    }

    /// The table prefix.
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }

    /// The database the inbox (and so the consumer's effects) lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

impl InboxTransaction {
    /// Adds outbox messages (e.g. a reply) in this transaction: they are published only if the
    /// effects commit.
    pub async fn enqueue(
        &mut self,
        prefix: &TablePrefix,
        messages: &[OutboxMessage],
    ) -> Result<(), OutboxError> {
        match self {
            InboxTransaction::Sqlite(tx) => enqueue_sqlite(tx, prefix, messages).await,
            InboxTransaction::Postgres(tx) => enqueue_postgres(tx, prefix, messages).await,
        }
    }

    /// Commits the effects together with the processed id.
    pub async fn commit(self) -> Result<(), OutboxError> {
        let op = "committing an inbox transaction";
        match self {
            InboxTransaction::Sqlite(tx) => tx.commit().await.map_err(OutboxError::database(op)),
            InboxTransaction::Postgres(tx) => tx.commit().await.map_err(OutboxError::database(op)),
        }
    }
}
