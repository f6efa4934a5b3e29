//! The inbox: a consumer records each processed message id in the same transaction as the
//! message's effects, so a redelivered message changes nothing the second time. It can also keep
//! the outcome of the work (a saga participant's reply), so a redelivery or a retry gets the same
//! answer instead of running the work again.

use std::time::Duration;

use mspack_eventstore::sql::{Arg, Sql};
use mspack_eventstore::{
    Database, Migration, OutboxMessage, TablePrefix, Tx, enqueue_in, migrate, migrate_store,
};
use uuid::Uuid;

use crate::error::OutboxError;

const COMPONENT: &str = "inbox";

const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
        version: 2,
        description: "stored outcomes, purge by age",
        sqlite: "ALTER TABLE {p}inbox ADD COLUMN outcome TEXT;
        CREATE INDEX {p}inbox_age ON {p}inbox (processed_at);",
        postgres: "ALTER TABLE {p}inbox ADD COLUMN outcome TEXT;
        CREATE INDEX {p}inbox_age ON {p}inbox (processed_at);",
    },
];

#[derive(Debug)]
struct Statements {
    claim: Sql,
    outcome: Sql,
    set_outcome: Sql,
    purge: Sql,
}

/// The processed-message ledger of one consumer.
#[derive(Debug, Clone)]
pub struct Inbox {
    db: Database,
    prefix: TablePrefix,
    consumer: String,
    sql: std::sync::Arc<Statements>,
}

/// What [`Inbox::claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// Not processed yet: do the work in this transaction and commit it.
    New(InboxTransaction),
    /// Already processed (committed by this or another replica), with the outcome stored then.
    Done {
        /// The stored outcome, if the consumer kept one.
        outcome: Option<String>,
    },
}

/// A transaction in which a message counts as processed. Do the message's effects on it
/// ([`InboxTransaction::tx`], e.g. `EventStore::append_in`), enqueue any replies, then commit.
/// Dropping it without committing rolls everything back, so the message can be processed again.
#[derive(Debug)]
pub struct InboxTransaction {
    tx: Tx,
    inbox: Inbox,
    message_id: Uuid,
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
        let sql = Statements {
            claim: Sql::new(
                &prefix,
                "INSERT INTO {p}inbox (consumer, message_id, outcome) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                "INSERT INTO {p}inbox (consumer, message_id, outcome) VALUES ($1, $2::uuid, $3) \
                 ON CONFLICT DO NOTHING",
            ),
            outcome: Sql::new(
                &prefix,
                "SELECT outcome FROM {p}inbox WHERE consumer = $1 AND message_id = $2",
                "SELECT outcome FROM {p}inbox WHERE consumer = $1 AND message_id = $2::uuid",
            ),
            set_outcome: Sql::new(
                &prefix,
                "UPDATE {p}inbox SET outcome = $3 WHERE consumer = $1 AND message_id = $2",
                "UPDATE {p}inbox SET outcome = $3 WHERE consumer = $1 AND message_id = $2::uuid",
            ),
            purge: Sql::new(
                &prefix,
                "DELETE FROM {p}inbox WHERE consumer = $1 AND processed_at < unixepoch() - $2",
                "DELETE FROM {p}inbox WHERE consumer = $1 \
                 AND processed_at < now() - make_interval(secs => $2)",
            ),
        };
        Ok(Inbox {
            db,
            prefix,
            consumer: consumer.into(),
            sql: std::sync::Arc::new(sql),
        })
    }

    /// Starts processing `message_id`: `None` if this consumer already processed it (ack it
    /// and move on), otherwise a transaction that records it once committed.
    pub async fn begin(&self, message_id: Uuid) -> Result<Option<InboxTransaction>, OutboxError> {
        Ok(match self.claim(message_id).await? {
            Claim::New(tx) => Some(tx),
            Claim::Done { .. } => None,
        })
    }

    /// Like [`Inbox::begin`], but an already processed message comes with its stored outcome.
    /// A concurrent consumer holding the same id makes this wait until it commits (then this is
    /// `Done`) or rolls back (then this one proceeds).
    pub async fn claim(&self, message_id: Uuid) -> Result<Claim, OutboxError> {
        let op = "recording a message in the inbox";
        let mut tx = self.db.begin().await.map_err(OutboxError::database(op))?;
        match self.mark_in(&mut tx, message_id, None).await? {
            None => Ok(Claim::New(InboxTransaction {
                tx,
                inbox: self.clone(),
                message_id,
            })),
            Some(outcome) => {
                tx.rollback().await.map_err(OutboxError::database(op))?;
                Ok(Claim::Done { outcome })
            }
        }
    }

    /// Records `message_id` as processed inside `tx`, with `outcome`, unless it already is:
    /// `None` when this call recorded it, or `Some(stored outcome)` when it was already there.
    /// (A saga compensation uses it to mark its action cancelled before the action can run.)
    pub async fn mark_in(
        &self,
        tx: &mut Tx,
        message_id: Uuid,
        outcome: Option<&str>,
    ) -> Result<Option<Option<String>>, OutboxError> {
        let op = "recording a message in the inbox";
        let id = message_id.to_string();
        let args = [
            Arg::from(self.consumer.as_str()),
            Arg::from(id.as_str()),
            Arg::Text(outcome),
        ];
        let inserted = tx
            .execute(&self.sql.claim, &args)
            .await
            .map_err(OutboxError::database(op))?;
        if inserted == 1 {
            return Ok(None);
        }
        let row = tx
            .fetch_optional(&self.sql.outcome, &args[..2])
            .await
            .map_err(OutboxError::database(op))?;
        let stored = match row {
            Some(row) => row.opt_text(0, "inbox outcome")?,
            None => None,
        };
        Ok(Some(stored))
    }

    /// Whether this consumer has committed `message_id`.
    pub async fn is_processed(&self, message_id: Uuid) -> Result<bool, OutboxError> {
        Ok(self.outcome(message_id).await?.is_some())
    }

    /// `Some(stored outcome)` if this consumer has committed `message_id`, else `None`.
    pub async fn outcome(&self, message_id: Uuid) -> Result<Option<Option<String>>, OutboxError> {
        let id = message_id.to_string();
        let row = self
            .db
            .fetch_optional(
                &self.sql.outcome,
                &[self.consumer.as_str().into(), id.as_str().into()],
            )
            .await
            .map_err(OutboxError::database("reading the inbox"))?;
        row.map(|r| r.opt_text(0, "inbox outcome"))
            .transpose()
            .map_err(OutboxError::from)
    }

    /// Forgets ids processed more than `age` ago; returns how many. Choose `age` longer than
    /// any redelivery can come: JetStream's redeliveries of an unacked message, a relay's retries
    /// and redrives of retained rows (the relay keeps sent rows 10 minutes by default), a saga's
    /// retries. A day is a safe default.
    pub async fn purge(&self, age: Duration) -> Result<u64, OutboxError> {
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        self.db
            .execute(
                &self.sql.purge,
                &[self.consumer.as_str().into(), secs.into()],
            )
            .await
            .map_err(OutboxError::database("purging the inbox"))
    }

    /// The table prefix.
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }

    /// The consumer name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The database the inbox (and so the consumer's effects) lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

impl InboxTransaction {
    /// The transaction: run the message's effects on it.
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// The message being processed.
    pub fn message_id(&self) -> Uuid {
        self.message_id
    }

    /// Keeps `outcome` with the processed id (returned by [`Inbox::claim`] on redelivery).
    pub async fn set_outcome(&mut self, outcome: &str) -> Result<(), OutboxError> {
        let id = self.message_id.to_string();
        self.tx
            .execute(
                &self.inbox.sql.set_outcome,
                &[
                    self.inbox.consumer.as_str().into(),
                    id.as_str().into(),
                    outcome.into(),
                ],
            )
            .await
            .map_err(OutboxError::database("storing an outcome in the inbox"))?;
        Ok(())
    }

    /// Adds outbox messages (e.g. a reply) in this transaction: they are published only if the
    /// effects commit.
    pub async fn enqueue(&mut self, messages: &[OutboxMessage]) -> Result<(), OutboxError> {
        enqueue_in(&mut self.tx, &self.inbox.prefix, messages).await?;
        Ok(())
    }

    /// Rolls back the effects and the processed id (the message can be processed again). Prefer
    /// this to dropping the transaction: the rollback is done when this returns, so on SQLite the
    /// write lock is free for the next transaction at once.
    pub async fn rollback(self) -> Result<(), OutboxError> {
        self.tx
            .rollback()
            .await
            .map_err(OutboxError::database("rolling back an inbox transaction"))
    }

    /// Commits the effects together with the processed id.
    pub async fn commit(self) -> Result<(), OutboxError> {
        self.tx
            .commit()
            .await
            .map_err(OutboxError::database("committing an inbox transaction"))
    }
}
