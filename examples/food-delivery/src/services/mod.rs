//! The services. Each owns a database (a SQLite file, or its own table prefix in PostgreSQL),
//! records its facts as events, takes saga commands as a participant (inbox, stored outcomes,
//! cancel-before-execute) and replies through its outbox.

pub mod delivery;
pub mod kitchen;
pub mod orders;
pub mod payments;
pub mod provider;

use std::future::Future;
use std::sync::Arc;

use async_nats::jetstream;
use mspack_eventstore::{Database, SqlEventStore, StoreConfig, TablePrefix};
use mspack_outbox::InboxTransaction;
use mspack_saga::{Command, Outcome, Participant, SagaError};
use tokio::sync::Notify;

use crate::runtime::{Consumer, HandleError, Shutdown, consume, current_traceparent};
use crate::topology::{Service, Topology};

/// What a service's role needs: its store, database, names, broker and the relay's waker.
#[derive(Clone)]
pub struct ServiceCtx {
    /// The deployment.
    pub topology: Topology,
    /// Which service.
    pub service: Service,
    /// Its event store (publishing its events under `<root>.<service>.events`).
    pub store: SqlEventStore,
    /// Its table prefix.
    pub prefix: TablePrefix,
    /// The broker.
    pub js: jetstream::Context,
    /// Wakes the in-process relay after a commit (none when the relay is another process).
    pub wake: Option<Arc<Notify>>,
}

impl ServiceCtx {
    /// Opens the service's database and store.
    pub async fn open(
        topology: &Topology,
        service: Service,
        role: &str,
        js: jetstream::Context,
    ) -> anyhow::Result<ServiceCtx> {
        let db = topology.database(service.name(), role).await?;
        let prefix = topology.prefix(service)?;
        let store = SqlEventStore::new(
            db,
            StoreConfig::new()
                .with_prefix(prefix.clone())
                .publish_events(topology.events(service)),
        )
        .await?;
        Ok(ServiceCtx {
            topology: topology.clone(),
            service,
            store,
            prefix,
            js,
            wake: None,
        })
    }

    /// Runs `handle` on the messages of `consumer` until `shutdown` (see [`consume`]).
    pub fn spawn_consumer<H, Fut>(&self, consumer: Consumer, handle: H, shutdown: Shutdown)
    where
        H: Fn(jetstream::Message) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandleError>> + Send + 'static,
    {
        let (js, topology) = (self.js.clone(), self.topology.clone());
        tokio::spawn(async move { consume(js, &topology, consumer, handle, shutdown).await });
    }

    /// The state of aggregate `A` of `order` as JSON under `what` (a read endpoint): 404 when
    /// there is none, 503 when the database can't be read.
    pub async fn aggregate_json<A>(
        &self,
        order: uuid::Uuid,
        what: &str,
    ) -> Result<axum::Json<serde_json::Value>, mspack_problem::Problem>
    where
        A: mspack_eventstore::Aggregate + serde::Serialize,
    {
        let repo: mspack_eventstore::Repository<A, _> =
            mspack_eventstore::Repository::new(self.store.clone());
        let loaded = repo
            .load(&order.to_string())
            .await
            .map_err(|e| mspack_problem::Problem::new(503).with_detail(e.to_string()))?;
        if loaded.version == 0 {
            return Err(mspack_problem::Problem::new(404)
                .with_detail(format!("no {what} for order {order}")));
        }
        Ok(axum::Json(
            serde_json::json!({ "order_id": order, what: loaded.state, "version": loaded.version }),
        ))
    }

    /// The database.
    pub fn db(&self) -> &Database {
        self.store.database()
    }

    /// Tells the in-process relay there is something to publish.
    pub fn committed(&self) {
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }

    /// The service's saga participant.
    pub async fn participant(&self) -> Result<Participant, SagaError> {
        Participant::new(self.db().clone(), self.prefix.clone(), self.service.name()).await
    }
}

/// Handles one saga command: `work` runs once per step (the participant's inbox), inside the
/// trace of the saga. Malformed commands are poison; database trouble is retried.
pub async fn process_command<F, Fut>(
    ctx: &ServiceCtx,
    participant: &Participant,
    message: &jetstream::Message,
    work: F,
) -> Result<(), HandleError>
where
    F: FnOnce(Command, InboxTransaction) -> Fut,
    Fut: Future<Output = Result<(InboxTransaction, Outcome), SagaError>>,
{
    let result =
        crate::runtime::in_message_trace(message, participant.process(&message.payload, work))
            .await;
    match result {
        Ok(_) => {
            ctx.committed();
            Ok(())
        }
        Err(SagaError::BadMessage(e)) => Err(HandleError::Poison(e)),
        Err(e) => Err(HandleError::Retry(e.to_string())),
    }
}

/// The order a saga command is about.
pub fn order_data(command: &Command) -> Result<crate::saga::OrderData, SagaError> {
    serde_json::from_value(command.data.clone()).map_err(|e| SagaError::BadMessage(e.to_string()))
}

/// Metadata for events a command causes: the saga's trace and the order as correlation.
pub fn command_metadata(command: &Command) -> mspack_eventstore::Metadata {
    mspack_eventstore::Metadata {
        correlation_id: Some(command.saga_id),
        causation_id: Some(command.message_id()),
        traceparent: current_traceparent().or_else(|| command.traceparent.clone()),
    }
}

/// A repository error inside a participant's work: a store failure rolls back and the command
/// is redelivered; a refusal the step can't have is a bad message.
pub fn repo_failed<E: std::error::Error + 'static>(
    e: mspack_eventstore::RepositoryError<E>,
) -> SagaError {
    match e {
        mspack_eventstore::RepositoryError::Store(s) => SagaError::Store(s),
        mspack_eventstore::RepositoryError::Rejected(r) => SagaError::BadMessage(r.to_string()),
    }
}
