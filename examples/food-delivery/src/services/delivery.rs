//! Delivery: books a courier (the saga's third step), frees it (its compensation), and hands
//! confirmed orders over, publishing `DeliveryCompleted` for the orders service.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use mspack_eventstore::Repository;
use mspack_outbox::{Claim, Health, Inbox, message_id};
use mspack_saga::{CommandKind, Outcome};
use serde_json::Value;
use uuid::Uuid;

use super::kitchen::order_of;
use super::{ServiceCtx, command_metadata, order_data, process_command, repo_failed};
use crate::domain::{Assignment, AssignmentCommand};
use crate::runtime::{Consumer, HandleError, Shutdown, in_message_trace, metadata};
use crate::topology::Service;

/// Runs delivery's consumers; returns its HTTP routes and workers' health.
pub async fn start(ctx: ServiceCtx, shutdown: Shutdown) -> anyhow::Result<(Router, Vec<Health>)> {
    let participant = ctx.participant().await?;
    let events_inbox = Inbox::new(ctx.db().clone(), ctx.prefix.clone(), "delivery-events").await?;
    let commands = Health::new("delivery-commands");
    let events = Health::new("delivery-events");
    {
        let spawner = ctx.clone();
        let ctx = ctx.clone();
        let topology = ctx.topology.clone();
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, participant) = (ctx.clone(), participant.clone());
            async move {
                let repo: Repository<Assignment, _> = Repository::new(ctx.store.clone());
                process_command(&ctx, &participant, &message, |cmd, mut tx| async move {
                    let order = order_data(&cmd)?;
                    let meta = command_metadata(&cmd);
                    let id = order.order_id.to_string();
                    let command = match cmd.kind {
                        CommandKind::Action => AssignmentCommand::Assign {
                            courier: format!("courier-{}", order.order_id.as_u128() % 17),
                        },
                        CommandKind::Compensation => AssignmentCommand::Unassign,
                    };
                    repo.execute_in(tx.tx(), &id, command, &meta, &[])
                        .await
                        .map_err(repo_failed)?;
                    Ok((tx, Outcome::success()))
                })
                .await
            }
        };
        let filter = topology.subject(Service::Delivery, "cmd", "*");
        spawner.spawn_consumer(
            Consumer {
                durable: "delivery-commands",
                filter,
                concurrency: 32,
                health: commands.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    {
        let spawner = ctx.clone();
        let ctx = ctx.clone();
        let topology = ctx.topology.clone();
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, inbox) = (ctx.clone(), events_inbox.clone());
            async move { deliver(&ctx, &inbox, &message).await }
        };
        let filter = format!("{}.OrderConfirmed", topology.events(Service::Orders));
        spawner.spawn_consumer(
            Consumer {
                durable: "delivery-deliver",
                filter,
                concurrency: 16,
                health: events.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    let router = Router::new()
        .route("/v1/deliveries/{order}", get(assignment))
        .with_state(ctx);
    Ok((router, vec![commands, events]))
}

/// A confirmed order is handed over (a real courier would take a while; this one is instant).
async fn deliver(
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
        let repo: Repository<Assignment, _> = Repository::new(ctx.store.clone());
        repo.execute_in(
            tx.tx(),
            &order.to_string(),
            AssignmentCommand::Deliver,
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

async fn assignment(
    State(ctx): State<ServiceCtx>,
    Path(order): Path<Uuid>,
) -> Result<axum::Json<Value>, mspack_problem::Problem> {
    ctx.aggregate_json::<Assignment>(order, "delivery").await
}
