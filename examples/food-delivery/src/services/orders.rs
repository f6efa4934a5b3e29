//! Orders: the order aggregate and its HTTP API. Placing an order records it and starts the
//! PlaceOrder saga in one transaction (there is never an order without its saga, nor the
//! reverse). It confirms orders (the saga's last step), learns that a saga was compensated
//! (cancelling the order) or that the food was delivered, through its inbox, and keeps the
//! order-status read model as a projection.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mspack_eventstore::sql::Sql;
use mspack_eventstore::{
    ApplyError, EventStore, RecordedEvent, Repository, RepositoryError, StoreError,
    TransactionalProjection, TransactionalRunner, Tx,
};
use mspack_outbox::{Claim, Health, Inbox, message_id};
use mspack_problem::{Json, Problem};
use mspack_saga::{CommandKind, Orchestrator, Outcome, SagaFinished};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{ServiceCtx, command_metadata, order_data, process_command, repo_failed};
use crate::domain::{Line, Order, OrderCommand, OrderError, Scenario};
use crate::runtime::{Consumer, HandleError, Shutdown, current_traceparent, in_message_trace};
use crate::saga::{OrderData, PLACE_ORDER, place_order};
use crate::topology::Service;

/// Namespace of order ids derived from `Idempotency-Key` headers.
const ORDER_KEYS: Uuid = Uuid::from_u128(0x6d73_7061_636b_2d6f_7264_6572_2d6b_6579);

#[derive(Clone)]
struct Api {
    ctx: ServiceCtx,
    orchestrator: Orchestrator,
    changes: broadcast::Sender<Uuid>,
}

/// The saga orchestrator of the orders database, with its definition and end notices.
pub async fn orchestrator(ctx: &ServiceCtx) -> anyhow::Result<Orchestrator> {
    Ok(Orchestrator::new(
        ctx.db().clone(),
        ctx.prefix.clone(),
        ctx.topology.replies(),
        [place_order(&ctx.topology)],
    )
    .await?
    .notify_finished(ctx.topology.finished()))
}

/// Runs the orchestrator until `shutdown`, retrying failed sagas (a compensation that kept
/// failing) every few seconds, as an operator would. Returns its health at once.
pub async fn start_orchestrator(ctx: ServiceCtx, shutdown: Shutdown) -> anyhow::Result<Health> {
    let mut orchestrator = orchestrator(&ctx).await?;
    if let Some(wake) = &ctx.wake {
        orchestrator = orchestrator.wake_after_commit(wake.clone());
    }
    let health = orchestrator.health();
    {
        let (orchestrator, js, stream, shutdown) = (
            orchestrator.clone(),
            ctx.js.clone(),
            ctx.topology.stream.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            orchestrator
                .run(
                    &js,
                    &stream,
                    "orchestrator",
                    Duration::from_millis(50),
                    shutdown.wait(),
                )
                .await;
        });
    }
    tokio::spawn(async move {
        while !shutdown.is_set() {
            if let Ok(failed) = orchestrator
                .list(mspack_saga::SagaStatus::Failed, 100)
                .await
            {
                for saga in failed.iter().filter(|s| s.round < 50) {
                    let _ = orchestrator.retry(saga.id).await;
                }
            }
            tokio::select! {
                () = shutdown.clone().wait() => break,
                () = tokio::time::sleep(Duration::from_secs(3)) => {}
            }
        }
    });
    Ok(health)
}

/// Runs the orders consumers and projection; returns the HTTP API and the workers' health.
pub async fn start(ctx: ServiceCtx, shutdown: Shutdown) -> anyhow::Result<(Router, Vec<Health>)> {
    let orchestrator = orchestrator(&ctx).await?;
    let participant = ctx.participant().await?;
    let inbox = Inbox::new(ctx.db().clone(), ctx.prefix.clone(), "orders-events").await?;
    let (changes, _) = broadcast::channel(4096);
    let api = Api {
        ctx: ctx.clone(),
        orchestrator,
        changes: changes.clone(),
    };
    let commands = Health::new("orders-commands");
    let delivered = Health::new("orders-delivered");
    let finished = Health::new("orders-finished");
    let projection = Health::new("order-status");
    let topology = ctx.topology.clone();
    {
        let spawner = ctx.clone();
        let (ctx, changes) = (ctx.clone(), changes.clone());
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, participant, changes) = (ctx.clone(), participant.clone(), changes.clone());
            async move {
                let repo: Repository<Order, _> = Repository::new(ctx.store.clone());
                let mut order_id = None;
                let result = process_command(&ctx, &participant, &message, |cmd, mut tx| {
                    let order = order_data(&cmd);
                    order_id = order.as_ref().ok().map(|o| o.order_id);
                    async move {
                        let order = order?;
                        let meta = command_metadata(&cmd);
                        if cmd.kind == CommandKind::Compensation {
                            return Ok((tx, Outcome::success())); // the pivot has none
                        }
                        let confirmed = repo
                            .execute_in(
                                tx.tx(),
                                &order.order_id.to_string(),
                                OrderCommand::Confirm,
                                &meta,
                                &[],
                            )
                            .await;
                        let outcome = match confirmed {
                            Ok(_) => Outcome::success(),
                            Err(RepositoryError::Rejected(e)) => Outcome::failure(e.to_string()),
                            Err(e) => return Err(repo_failed(e)),
                        };
                        Ok((tx, outcome))
                    }
                })
                .await;
                if let Some(id) = order_id {
                    let _ = changes.send(id);
                }
                result
            }
        };
        let filter = topology.subject(Service::Orders, "cmd", "*");
        spawner.spawn_consumer(
            Consumer {
                durable: "orders-commands",
                filter,
                concurrency: 32,
                health: commands.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    {
        // The food arrived.
        let spawner = ctx.clone();
        let (ctx, inbox, changes) = (ctx.clone(), inbox.clone(), changes.clone());
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, inbox, changes) = (ctx.clone(), inbox.clone(), changes.clone());
            async move {
                let order = order_of_delivery(&message)?;
                record(&ctx, &inbox, &message, order, OrderCommand::MarkDelivered).await?;
                let _ = changes.send(order);
                Ok(())
            }
        };
        let filter = format!("{}.DeliveryCompleted", topology.events(Service::Delivery));
        spawner.spawn_consumer(
            Consumer {
                durable: "orders-delivered",
                filter,
                concurrency: 16,
                health: delivered.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    {
        // A saga ended: a compensated one cancels its order.
        let spawner = ctx.clone();
        let (ctx, inbox, changes) = (ctx.clone(), inbox.clone(), changes.clone());
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, inbox, changes) = (ctx.clone(), inbox.clone(), changes.clone());
            async move {
                let finished: SagaFinished = serde_json::from_slice(&message.payload)
                    .map_err(|e| HandleError::Poison(e.to_string()))?;
                if finished.status == "compensated" {
                    let reason = finished.last_error.unwrap_or_else(|| "compensated".into());
                    record(
                        &ctx,
                        &inbox,
                        &message,
                        finished.saga_id,
                        OrderCommand::Cancel { reason },
                    )
                    .await?;
                }
                let _ = changes.send(finished.saga_id);
                Ok(())
            }
        };
        let filter = topology.finished();
        spawner.spawn_consumer(
            Consumer {
                durable: "orders-finished",
                filter,
                concurrency: 16,
                health: finished.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    spawn_projection(&ctx, projection.clone(), shutdown);
    let router = Router::new()
        .route("/v1/orders", post(place).get(list))
        .route("/v1/orders/{id}", get(fetch))
        .route("/v1/orders/{id}/cancel", post(cancel))
        .with_state(api);
    Ok((router, vec![commands, delivered, finished, projection]))
}

/// Records `command` on `order` for an event `message`, once (the inbox).
async fn record(
    ctx: &ServiceCtx,
    inbox: &Inbox,
    message: &async_nats::jetstream::Message,
    order: Uuid,
    command: OrderCommand,
) -> Result<(), HandleError> {
    let id = message_id(message).ok_or_else(|| HandleError::Poison("no message id".into()))?;
    in_message_trace(message, async {
        let Claim::New(mut tx) = inbox.claim(id).await? else {
            return Ok(());
        };
        let repo: Repository<Order, _> = Repository::new(ctx.store.clone());
        match repo
            .execute_in(
                tx.tx(),
                &order.to_string(),
                command,
                &crate::runtime::metadata(order),
                &[],
            )
            .await
        {
            Ok(_) => {
                tx.commit().await?;
                ctx.committed();
                Ok(())
            }
            // A refusal is final (an order already in that state): consume the message.
            Err(RepositoryError::Rejected(e)) => {
                tx.commit().await?;
                tracing::warn!(order = %order, error = %e, "event not applicable to the order");
                Ok(())
            }
            Err(RepositoryError::Store(e)) => {
                let _ = tx.rollback().await;
                Err(HandleError::Retry(e.to_string()))
            }
        }
    })
    .await
}

fn order_of_delivery(message: &async_nats::jetstream::Message) -> Result<Uuid, HandleError> {
    mspack_outbox::header(message, "Mspack-Stream")
        .and_then(|s| s.strip_prefix("delivery-"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| HandleError::Poison("a delivery event without its order".into()))
}

/// A new order, as posted.
#[derive(Debug, Deserialize)]
struct NewOrder {
    customer: String,
    lines: Vec<Line>,
    total_cents: u64,
    #[serde(default)]
    scenario: Scenario,
}

fn store_problem(e: StoreError) -> Problem {
    Problem::new(503)
        .with_detail(e.to_string())
        .with_retry_after(1)
}

fn order_problem(e: OrderError, id: Uuid) -> Problem {
    match e {
        OrderError::NotFound => Problem::new(404).with_detail(format!("no order {id}")),
        OrderError::Invalid(why) => Problem::validation(vec![]).with_detail(why),
        other => Problem::typed(
            "https://mspack.dev/problems/order-state",
            "Order state",
            409,
        )
        .with_detail(other.to_string()),
    }
}

async fn place(
    State(api): State<Api>,
    headers: HeaderMap,
    Json(new): Json<NewOrder>,
) -> Result<Response, Problem> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let id = match key {
        Some(key) => Uuid::new_v5(&ORDER_KEYS, key.as_bytes()),
        None => Uuid::now_v7(),
    };
    let ctx = &api.ctx;
    let repo: Repository<Order, _> = Repository::new(ctx.store.clone());
    let meta = crate::runtime::metadata(id);
    let data = OrderData {
        order_id: id,
        lines: new.lines.clone(),
        total_cents: new.total_cents,
        scenario: new.scenario,
    };
    let command = OrderCommand::Place {
        customer: new.customer,
        lines: new.lines,
        total_cents: new.total_cents,
        scenario: new.scenario,
    };
    let mut tx = ctx.store.begin().await.map_err(store_problem)?;
    let placed = repo
        .execute_in(&mut tx, &id.to_string(), command, &meta, &[])
        .await;
    let refused = match placed {
        Ok(_) => None,
        Err(RepositoryError::Rejected(OrderError::AlreadyPlaced)) if key.is_some() => Some(None),
        Err(RepositoryError::Store(e)) if e.is_conflict() && key.is_some() => Some(None),
        Err(RepositoryError::Rejected(e)) => Some(Some(order_problem(e, id))),
        Err(RepositoryError::Store(e)) => Some(Some(store_problem(e))),
    };
    if let Some(problem) = refused {
        let _ = tx.rollback().await;
        return match problem {
            // The same Idempotency-Key again: the order it created.
            None => Ok((StatusCode::OK, axum::Json(order_json(&api, id).await?)).into_response()),
            Some(problem) => Err(problem),
        };
    }
    let data =
        serde_json::to_value(&data).map_err(|e| Problem::internal().with_detail(e.to_string()))?;
    if let Err(e) = api
        .orchestrator
        .start_in(&mut tx, PLACE_ORDER, id, data, current_traceparent())
        .await
    {
        let _ = tx.rollback().await;
        return Err(Problem::new(503).with_detail(e.to_string()));
    }
    tx.commit()
        .await
        .map_err(|e| store_problem(StoreError::database("placing an order")(e)))?;
    ctx.committed();
    let mut response = (
        StatusCode::CREATED,
        axum::Json(json!({ "order_id": id, "status": "placed" })),
    )
        .into_response();
    if let Ok(location) = format!("/v1/orders/{id}").parse() {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    Ok(response)
}

async fn order_json(api: &Api, id: Uuid) -> Result<Value, Problem> {
    let repo: Repository<Order, _> = Repository::new(api.ctx.store.clone());
    let loaded = repo.load(&id.to_string()).await.map_err(store_problem)?;
    if loaded.version == 0 {
        return Err(order_problem(OrderError::NotFound, id));
    }
    let saga = api.orchestrator.state(id).await.ok().flatten().map(
        |s| json!({ "status": s.status.as_str(), "step": s.step, "last_error": s.last_error }),
    );
    let o = loaded.state;
    Ok(json!({
        "order_id": id,
        "status": o.status.as_str(),
        "customer": o.customer,
        "lines": o.lines,
        "total_cents": o.total_cents,
        "cancel_requested": o.cancel_requested,
        "version": loaded.version,
        "saga": saga,
    }))
}

#[derive(Debug, Deserialize)]
struct FetchQuery {
    /// Wait until the order is delivered or cancelled (or `timeout_ms` passes).
    #[serde(default)]
    wait: bool,
    #[serde(default = "default_wait")]
    timeout_ms: u64,
}

fn default_wait() -> u64 {
    30_000
}

async fn fetch(
    State(api): State<Api>,
    Path(id): Path<Uuid>,
    Query(q): Query<FetchQuery>,
) -> Result<Response, Problem> {
    let mut changes = api.changes.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.timeout_ms.min(120_000));
    loop {
        let order = order_json(&api, id).await?;
        let terminal = matches!(order["status"].as_str(), Some("delivered" | "cancelled"));
        if !q.wait || terminal {
            return Ok(axum::Json(order).into_response());
        }
        // Woken by this process's own commits; the short sleep covers another process's.
        let woke = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(50)),
            async {
                loop {
                    match changes.recv().await {
                        Ok(changed) if changed == id => return,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => return,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            },
        )
        .await;
        if woke.is_err() && tokio::time::Instant::now() >= deadline {
            return Ok((StatusCode::ACCEPTED, axum::Json(order)).into_response());
        }
    }
}

async fn cancel(State(api): State<Api>, Path(id): Path<Uuid>) -> Result<Response, Problem> {
    let repo: Repository<Order, _> = Repository::new(api.ctx.store.clone());
    let meta = crate::runtime::metadata(id);
    match repo
        .execute_with_retry(&id.to_string(), OrderCommand::RequestCancel, &meta, 3)
        .await
    {
        Ok(_) => {
            api.ctx.committed();
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({ "order_id": id, "status": "cancel requested" })),
            )
                .into_response())
        }
        Err(RepositoryError::Rejected(e)) => Err(order_problem(e, id)),
        Err(RepositoryError::Store(e)) => Err(store_problem(e)),
    }
}

async fn list(
    State(api): State<Api>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Problem> {
    let status = q
        .get("status")
        .cloned()
        .unwrap_or_else(|| "placed".to_owned());
    let sql = Sql::both(
        &api.ctx.prefix,
        "SELECT order_id, status, total_cents FROM {p}order_status WHERE status = $1 ORDER BY order_id LIMIT 1000",
    );
    let rows = api
        .ctx
        .db()
        .fetch_all(&sql, &[status.as_str().into()])
        .await
        .map_err(|e| Problem::new(503).with_detail(e.to_string()))?;
    let orders: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "order_id": r.text(0, "order").unwrap_or_default(), "status": r.text(1, "status").unwrap_or_default(), "total_cents": r.int(2, "total").unwrap_or_default() }))
        .collect();
    Ok(axum::Json(json!({ "orders": orders })))
}

/// The order-status read model: one row per order, in the orders database.
pub const STATUS_TABLE: &str = "CREATE TABLE IF NOT EXISTS {p}order_status (order_id TEXT PRIMARY KEY, status TEXT NOT NULL, total_cents BIGINT NOT NULL)";

struct StatusView {
    upsert: Sql,
    status: Sql,
    reset: Sql,
}

impl TransactionalProjection for StatusView {
    fn name(&self) -> &str {
        "order-status"
    }

    async fn apply(&mut self, tx: &mut Tx, event: &RecordedEvent) -> Result<(), ApplyError> {
        let Some(order) = event.stream_id.strip_prefix("order-") else {
            return Ok(());
        };
        match event.event_type.as_str() {
            "OrderPlaced" => {
                let total = event.payload["OrderPlaced"]["total_cents"]
                    .as_i64()
                    .unwrap_or(0);
                tx.execute(&self.upsert, &[order.into(), "placed".into(), total.into()])
                    .await?;
            }
            kind => {
                let status = match kind {
                    "OrderConfirmed" => "confirmed",
                    "OrderDelivered" => "delivered",
                    "OrderCancelled" => "cancelled",
                    _ => return Ok(()),
                };
                tx.execute(&self.status, &[order.into(), status.into()])
                    .await?;
            }
        }
        Ok(())
    }

    async fn reset(&mut self, tx: &mut Tx) -> Result<(), ApplyError> {
        tx.execute(&self.reset, &[]).await?;
        Ok(())
    }
}

fn spawn_projection(ctx: &ServiceCtx, health: Health, shutdown: Shutdown) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let p = &ctx.prefix;
        let table = Sql::both(p, STATUS_TABLE);
        let view = StatusView {
            upsert: Sql::both(
                p,
                "INSERT INTO {p}order_status (order_id, status, total_cents) VALUES ($1, $2, $3) \
                 ON CONFLICT (order_id) DO UPDATE SET status = excluded.status",
            ),
            status: Sql::both(
                p,
                "UPDATE {p}order_status SET status = $2 WHERE order_id = $1",
            ),
            reset: Sql::both(p, "DELETE FROM {p}order_status"),
        };
        let mut runner = TransactionalRunner::new(ctx.store.clone(), view);
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
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });
}
