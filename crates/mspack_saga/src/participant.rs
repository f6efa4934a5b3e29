//! The participant side: take a command from JetStream, do the work exactly once (inbox), and
//! reply through the outbox in the same transaction.

use std::future::Future;

use mspack_eventstore::{Database, TablePrefix};
use mspack_outbox::{Inbox, InboxTransaction, enqueue_postgres, enqueue_sqlite};

use crate::error::SagaError;
use crate::message::{Command, Outcome};

/// What [`Participant::process`] did with a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// The work ran and its result was replied.
    Done(Outcome),
    /// This step's work was already done (a redelivery or a retry after a slow reply): nothing
    /// ran; the earlier reply is on its way.
    AlreadyDone,
}

/// A service that performs saga steps.
#[derive(Debug, Clone)]
pub struct Participant {
    inbox: Inbox,
}

impl Participant {
    /// A participant named `name` (its inbox consumer name) in `db` under `prefix`.
    pub async fn new(
        db: Database,
        prefix: TablePrefix,
        name: impl Into<String>,
    ) -> Result<Self, SagaError> {
        Ok(Participant {
            inbox: Inbox::new(db, prefix, name).await?,
        })
    }

    /// Processes one command body. `work` gets the command and a transaction that already
    /// records the step as processed; it does its effects on it and hands it back with the
    /// outcome. On success the effects, the inbox record and the reply commit together. On
    /// failure the effects roll back (so a retry can run the work again) and only the failure
    /// reply is written.
    pub async fn process<F, Fut>(&self, body: &[u8], work: F) -> Result<Processed, SagaError>
    where
        F: FnOnce(Command, InboxTransaction) -> Fut,
        Fut: Future<Output = Result<(InboxTransaction, Outcome), SagaError>>,
    {
        let command = Command::from_json(body)?;
        let Some(tx) = self.inbox.begin(command.idempotency_key()).await? else {
            return Ok(Processed::AlreadyDone);
        };
        let (mut tx, outcome) = work(command.clone(), tx).await?;
        let reply = command.reply(outcome.clone())?;
        match outcome {
            Outcome::Success => {
                tx.enqueue(self.inbox.prefix(), &[reply]).await?;
                tx.commit().await?;
            }
            Outcome::Failure { .. } => {
                drop(tx); // roll the effects back
                let prefix = self.inbox.prefix();
                match self.inbox.database() {
                    Database::Sqlite(pool) => {
                        let mut conn = pool
                            .acquire()
                            .await
                            .map_err(SagaError::database("replying"))?;
                        enqueue_sqlite(&mut conn, prefix, &[reply]).await?;
                    }
                    Database::Postgres(pool) => {
                        let mut conn = pool
                            .acquire()
                            .await
                            .map_err(SagaError::database("replying"))?;
                        enqueue_postgres(&mut conn, prefix, &[reply]).await?;
                    }
                }
            }
        }
        Ok(Processed::Done(outcome))
    }
}
