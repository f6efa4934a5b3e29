//! Kitchen: takes or refuses tickets (the saga's first step), gives them back (its
//! compensation), cooks confirmed orders, and keeps the queue as a projection.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use mspack_eventstore::sql::Sql;
use mspack_eventstore::{
    ApplyError, RecordedEvent, Repository, TransactionalProjection, TransactionalRunner, Tx,
};
use mspack_outbox::{Claim, Health, Inbox, message_id};
use mspack_saga::{CommandKind, Outcome};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ServiceCtx, command_metadata, order_data, process_command, repo_failed};
use crate::domain::{Scenario, Ticket, TicketCommand};
use crate::runtime::{Consumer, HandleError, Shutdown, in_message_trace, metadata};
use crate::topology::Service;

/// Runs the kitchen's consumers and projection; returns its HTTP routes and workers' health.
pub async fn start(ctx: ServiceCtx, shutdown: Shutdown) -> anyhow::Result<(Router, Vec<Health>)> {
    let participant = ctx.participant().await?;
    let events_inbox = Inbox::new(ctx.db().clone(), ctx.prefix.clone(), "kitchen-events").await?;
    let commands = Health::new("kitchen-commands");
    let events = Health::new("kitchen-events");
    let projection = Health::new("kitchen-queue");
    {
        let spawner = ctx.clone();
        let ctx = ctx.clone();
        let topology = ctx.topology.clone();
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, participant) = (ctx.clone(), participant.clone());
            async move {
                let repo: Repository<Ticket, _> = Repository::new(ctx.store.clone());
                process_command(&ctx, &participant, &message, |cmd, mut tx| async move {
                    let order = order_data(&cmd)?;
                    let meta = command_metadata(&cmd);
                    let id = order.order_id.to_string();
                    let outcome = match cmd.kind {
                        CommandKind::Action if order.scenario == Scenario::KitchenReject => {
                            Outcome::failure("the kitchen is full")
                        }
                        CommandKind::Action => {
                            let command = TicketCommand::Reserve { lines: order.lines };
                            repo.execute_in(tx.tx(), &id, command, &meta, &[])
                                .await
                                .map_err(repo_failed)?;
                            Outcome::success()
                        }
                        CommandKind::Compensation => {
                            repo.execute_in(tx.tx(), &id, TicketCommand::Release, &meta, &[])
                                .await
                                .map_err(repo_failed)?;
                            Outcome::success()
                        }
                    };
                    Ok((tx, outcome))
                })
                .await
            }
        };
        let filter = topology.subject(Service::Kitchen, "cmd", "*");
        spawner.spawn_consumer(
            Consumer {
                durable: "kitchen-commands",
                filter,
                concurrency: 32,
                health: commands.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    {
        // Cook what is confirmed.
        let spawner = ctx.clone();
        let ctx = ctx.clone();
        let topology = ctx.topology.clone();
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, inbox) = (ctx.clone(), events_inbox.clone());
            async move { prepare(&ctx, &inbox, &message).await }
        };
        let filter = format!("{}.OrderConfirmed", topology.events(Service::Orders));
        spawner.spawn_consumer(
            Consumer {
                durable: "kitchen-prepare",
                filter,
                concurrency: 16,
                health: events.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    spawn_projection(&ctx, projection.clone(), shutdown);
    let router = Router::new()
        .route("/v1/kitchen/queue", get(queue))
        .route("/v1/kitchen/tickets/{order}", get(ticket))
        .with_state(ctx);
    Ok((router, vec![commands, events, projection]))
}

async fn prepare(
    ctx: &ServiceCtx,
    inbox: &Inbox,
    message: &async_nats::jetstream::Message,
) -> Result<(), HandleError> {
    let id = message_id(message).ok_or_else(|| HandleError::Poison("no message id".into()))?;
    let order = order_of(message)?;
    in_message_trace(message, async {
        let Claim::New(mut tx) = inbox.claim(id).await? else {
            return Ok(());
        };
        let repo: Repository<Ticket, _> = Repository::new(ctx.store.clone());
        repo.execute_in(
            tx.tx(),
            &order.to_string(),
            TicketCommand::Prepare,
            &metadata(order),
            &[],
        )
        .await?;
        tx.commit().await?;
        ctx.committed();
        Ok(())
    })
    .await
}

/// The order an orders event is about (its stream is `order-<id>`).
pub fn order_of(message: &async_nats::jetstream::Message) -> Result<Uuid, HandleError> {
    mspack_outbox::header(message, "Mspack-Stream")
        .and_then(|s| s.strip_prefix("order-"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| HandleError::Poison("an orders event without its order".into()))
}

/// The kitchen queue: one row per ticket with its state, in the kitchen's database.
struct Queue {
    upsert: Sql,
    reset: Sql,
}

impl Queue {
    fn new(prefix: &mspack_eventstore::TablePrefix) -> Self {
        Queue {
            upsert: Sql::both(
                prefix,
                "INSERT INTO {p}kitchen_queue (order_id, state) VALUES ($1, $2) \
                 ON CONFLICT (order_id) DO UPDATE SET state = excluded.state",
            ),
            reset: Sql::both(prefix, "DELETE FROM {p}kitchen_queue"),
        }
    }
}

impl TransactionalProjection for Queue {
    fn name(&self) -> &str {
        "kitchen-queue"
    }

    async fn apply(&mut self, tx: &mut Tx, event: &RecordedEvent) -> Result<(), ApplyError> {
        let Some(order) = event.stream_id.strip_prefix("ticket-") else {
            return Ok(());
        };
        let state = match event.event_type.as_str() {
            "TicketReserved" => "reserved",
            "TicketReleased" => "released",
            "TicketPrepared" => "prepared",
            _ => return Ok(()),
        };
        tx.execute(&self.upsert, &[order.into(), state.into()])
            .await?;
        Ok(())
    }

    async fn reset(&mut self, tx: &mut Tx) -> Result<(), ApplyError> {
        tx.execute(&self.reset, &[]).await?;
        Ok(())
    }
}

/// The queue's table.
pub const QUEUE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS {p}kitchen_queue (order_id TEXT PRIMARY KEY, state TEXT NOT NULL)";

fn spawn_projection(ctx: &ServiceCtx, health: Health, shutdown: Shutdown) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let table = Sql::both(&ctx.prefix, QUEUE_TABLE);
        let mut runner = TransactionalRunner::new(ctx.store.clone(), Queue::new(&ctx.prefix));
        while !shutdown.is_set() {
            let pass = async {
                ctx.db().execute(&table, &[]).await?;
                runner.catch_up().await?;
                anyhow::Ok(())
            };
            match pass.await {
                Ok(()) => health.healthy(),
                Err(e) => health.degraded(e.to_string()),
            }
            tokio::select! {
                () = shutdown.clone().wait() => break,
                () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
    });
}

async fn queue(
    State(ctx): State<ServiceCtx>,
) -> Result<axum::Json<Value>, mspack_problem::Problem> {
    let sql = Sql::both(
        &ctx.prefix,
        "SELECT order_id, state FROM {p}kitchen_queue WHERE state <> 'released' ORDER BY order_id LIMIT 1000",
    );
    let rows = ctx
        .db()
        .fetch_all(&sql, &[])
        .await
        .map_err(|e| mspack_problem::Problem::new(503).with_detail(e.to_string()))?;
    let tickets: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "order_id": r.text(0, "order").unwrap_or_default(), "state": r.text(1, "state").unwrap_or_default() }))
        .collect();
    Ok(axum::Json(json!({ "tickets": tickets })))
}

async fn ticket(
    State(ctx): State<ServiceCtx>,
    Path(order): Path<Uuid>,
) -> Result<axum::Json<Value>, mspack_problem::Problem> {
    ctx.aggregate_json::<Ticket>(order, "ticket").await
}
