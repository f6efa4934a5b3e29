//! The participant side: take a command from JetStream, do the work exactly once (inbox), and
//! reply through the outbox in the same transaction; answer every later copy of the command with
//! the same outcome; and never run an action after its compensation.

use std::future::Future;

use mspack_eventstore::{Database, TablePrefix};
use mspack_outbox::{Claim, Inbox, InboxTransaction};

use crate::error::SagaError;
use crate::message::{ActionState, Command, CommandKind, Outcome};

/// What the inbox holds for an action its compensation cancelled before it ran.
const CANCELLED: &str = "cancelled";

/// What [`Participant::process`] did with a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// The work ran and its result was replied.
    Done(Outcome),
    /// This step's work was already done (a redelivery, or a retry after a slow reply): nothing
    /// ran; the stored outcome was replied again (`None`: nothing stored, nothing replied).
    AlreadyDone(Option<Outcome>),
    /// An action that arrived after its compensation: refused, and replied so.
    Refused,
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

    /// The inbox underneath (e.g. to purge it).
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// Processes one command body. `work` gets the command and a transaction that already
    /// records the step as processed; it does its effects on it (`EventStore::append_in` on
    /// [`InboxTransaction::tx`], its own statements) and hands it back with the outcome.
    ///
    /// - Success: effects, the stored outcome and the reply commit together.
    /// - A non-retryable failure of an action: the effects roll back; the failure is stored and
    ///   replied in one transaction, so a redelivered command gets the same failure instead of
    ///   running again (and perhaps succeeding after the saga compensated).
    /// - A retryable failure: the effects roll back, the failure is replied, nothing is stored.
    /// - A compensation first marks its action cancelled in the same transaction (the command
    ///   tells `work` whether the action ran, in [`Command::action`]); an action that arrives
    ///   later is refused and replied so. A failed compensation is not stored: it can be tried
    ///   again, and the action stays cancelled.
    /// - A command already processed gets its stored outcome replied again.
    pub async fn process<F, Fut>(&self, body: &[u8], work: F) -> Result<Processed, SagaError>
    where
        F: FnOnce(Command, InboxTransaction) -> Fut,
        Fut: Future<Output = Result<(InboxTransaction, Outcome), SagaError>>,
    {
        let mut command = Command::from_json(body)?;
        let key = command.idempotency_key();
        let mut tx = match self.inbox.claim(key).await? {
            Claim::Done { outcome } => return self.answer_again(&command, outcome).await,
            Claim::New(tx) => tx,
        };
        if command.kind == CommandKind::Compensation {
            command.action = Some(self.cancel_action(&mut tx, &command).await?);
        }
        let (mut tx, outcome) = work(command.clone(), tx).await?;
        let reply = command.reply(outcome.clone())?;
        if outcome.is_success() {
            tx.set_outcome(&encode(&outcome)?).await?;
            tx.enqueue(&[reply]).await?;
            tx.commit().await?;
            return Ok(Processed::Done(outcome));
        }
        tx.rollback().await?; // the effects go
        let mut tx = self.inbox_tx(&command).await?;
        let store = command.kind == CommandKind::Action && outcome.is_terminal();
        if store
            && let Some(existing) = self
                .inbox
                .mark_in(tx.tx(), key, Some(&encode(&outcome)?))
                .await?
        {
            // Another copy finished first: its outcome is the one.
            tx.rollback().await?;
            return self.answer_again(&command, existing).await;
        }
        tx.enqueue(&[reply]).await?;
        tx.commit().await?;
        Ok(Processed::Done(outcome))
    }

    /// A transaction for replying outside the work's own: for a compensation it marks the
    /// action cancelled again (the work's transaction, which did, rolled back).
    async fn inbox_tx(&self, command: &Command) -> Result<ReplyTx, SagaError> {
        let db = self.inbox.database();
        let tx = db.begin().await.map_err(SagaError::database("replying"))?;
        let mut tx = ReplyTx {
            tx,
            inbox: self.inbox.clone(),
        };
        if command.kind == CommandKind::Compensation {
            self.inbox
                .mark_in(tx.tx(), command.action_key(), Some(CANCELLED))
                .await?;
        }
        Ok(tx)
    }

    /// Marks the step's action cancelled unless it already ran; says which.
    async fn cancel_action(
        &self,
        tx: &mut InboxTransaction,
        command: &Command,
    ) -> Result<ActionState, SagaError> {
        let stored = self
            .inbox
            .mark_in(tx.tx(), command.action_key(), Some(CANCELLED))
            .await?;
        Ok(match stored {
            None => ActionState::Cancelled,
            Some(Some(text)) if text == CANCELLED => ActionState::Cancelled,
            Some(Some(text)) => ActionState::Done(decode(&text)?),
            Some(None) => ActionState::Done(Outcome::success()),
        })
    }

    /// Replies the stored outcome to a copy of a command already processed.
    async fn answer_again(
        &self,
        command: &Command,
        stored: Option<String>,
    ) -> Result<Processed, SagaError> {
        let Some(text) = stored else {
            return Ok(Processed::AlreadyDone(None));
        };
        let (outcome, processed) = if text == CANCELLED {
            if command.kind != CommandKind::Action {
                return Ok(Processed::AlreadyDone(None));
            }
            (
                Outcome::failure("cancelled: the saga compensated this step before it ran"),
                Processed::Refused,
            )
        } else {
            let outcome = decode(&text)?;
            (outcome.clone(), Processed::AlreadyDone(Some(outcome)))
        };
        let reply = command.reply(outcome)?;
        let mut tx = self.inbox_tx(command).await?;
        tx.enqueue(&[reply]).await?;
        tx.commit().await?;
        Ok(processed)
    }
}

/// A transaction for a reply (and the markers that go with it).
struct ReplyTx {
    tx: mspack_eventstore::Tx,
    inbox: Inbox,
}

impl ReplyTx {
    fn tx(&mut self) -> &mut mspack_eventstore::Tx {
        &mut self.tx
    }

    async fn enqueue(
        &mut self,
        messages: &[mspack_eventstore::OutboxMessage],
    ) -> Result<(), SagaError> {
        mspack_eventstore::enqueue_in(&mut self.tx, self.inbox.prefix(), messages).await?;
        Ok(())
    }

    async fn commit(self) -> Result<(), SagaError> {
        self.tx
            .commit()
            .await
            .map_err(SagaError::database("replying"))
    }

    async fn rollback(self) -> Result<(), SagaError> {
        self.tx
            .rollback()
            .await
            .map_err(SagaError::database("replying"))
    }
}

fn encode(outcome: &Outcome) -> Result<String, SagaError> {
    serde_json::to_string(outcome).map_err(|e| SagaError::BadMessage(e.to_string()))
}

fn decode(text: &str) -> Result<Outcome, SagaError> {
    serde_json::from_str(text).map_err(|e| SagaError::BadMessage(format!("stored outcome: {e}")))
}
