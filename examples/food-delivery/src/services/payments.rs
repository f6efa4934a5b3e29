//! Payments: charges the order through the provider (the saga's second step) and refunds it
//! (its compensation), with the step's idempotency key, so retries never charge twice.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use mspack_eventstore::Repository;
use mspack_outbox::Health;
use mspack_saga::{CommandKind, Outcome};
use serde_json::{Value, json};
use uuid::Uuid;

use super::provider::{ChargeRequest, RefundRequest};
use super::{ServiceCtx, command_metadata, order_data, process_command, repo_failed};
use crate::domain::{Payment, PaymentCommand, Scenario};
use crate::runtime::{Consumer, Shutdown};
use crate::topology::Service;

/// Runs the payments consumer; returns its HTTP routes and workers' health.
pub async fn start(ctx: ServiceCtx, shutdown: Shutdown) -> anyhow::Result<(Router, Vec<Health>)> {
    let participant = ctx.participant().await?;
    let commands = Health::new("payments-commands");
    // The provider must answer well within a step's timeout, or the call counts as failed.
    let http = reqwest::Client::builder()
        .timeout(ctx.topology.step_timeout / 2)
        .build()?;
    {
        let spawner = ctx.clone();
        let ctx = ctx.clone();
        let topology = ctx.topology.clone();
        let handle = move |message: async_nats::jetstream::Message| {
            let (ctx, participant, http) = (ctx.clone(), participant.clone(), http.clone());
            async move {
                let repo: Repository<Payment, _> = Repository::new(ctx.store.clone());
                let provider = ctx.topology.provider_url();
                process_command(&ctx, &participant, &message, |cmd, mut tx| async move {
                    let order = order_data(&cmd)?;
                    let meta = command_metadata(&cmd);
                    let id = order.order_id.to_string();
                    let key = cmd.action_key();
                    let outcome = match cmd.kind {
                        CommandKind::Action => {
                            let simulate = match order.scenario {
                                Scenario::Decline => Some("decline".to_owned()),
                                Scenario::ProviderTimeout => Some("timeout".to_owned()),
                                _ => None,
                            };
                            let request = ChargeRequest {
                                idempotency_key: key,
                                order_id: order.order_id,
                                amount_cents: order.total_cents,
                                simulate,
                            };
                            match call(&http, &format!("{provider}/v1/charges"), &request).await {
                                Ok(body) => {
                                    let charge_id =
                                        body["charge_id"].as_str().unwrap_or_default().to_owned();
                                    let command = PaymentCommand::RecordCharge {
                                        charge_id: charge_id.clone(),
                                        amount_cents: order.total_cents,
                                    };
                                    repo.execute_in(tx.tx(), &id, command, &meta, &[])
                                        .await
                                        .map_err(repo_failed)?;
                                    Outcome::success_with(json!({ "charge_id": charge_id }))
                                }
                                Err(Call::Declined) => Outcome::failure("card declined"),
                                Err(Call::Unavailable(e)) => {
                                    Outcome::retryable(format!("provider: {e}"))
                                }
                            }
                        }
                        CommandKind::Compensation => {
                            // Refund by the charge's key, whether or not the charge was recorded
                            // here (an attempt may have charged and crashed before recording).
                            let request = RefundRequest {
                                idempotency_key: key,
                            };
                            match call(&http, &format!("{provider}/v1/refunds"), &request).await {
                                Ok(body) if body["refunded"] == true => {
                                    let charge_id =
                                        body["charge_id"].as_str().unwrap_or_default().to_owned();
                                    repo.execute_in(
                                        tx.tx(),
                                        &id,
                                        PaymentCommand::RecordRefund { charge_id },
                                        &meta,
                                        &[],
                                    )
                                    .await
                                    .map_err(repo_failed)?;
                                    Outcome::success()
                                }
                                Ok(_) => Outcome::success(), // nothing was charged
                                Err(e) => Outcome::retryable(format!("provider: {e:?}")),
                            }
                        }
                    };
                    Ok((tx, outcome))
                })
                .await
            }
        };
        let filter = topology.subject(Service::Payments, "cmd", "*");
        spawner.spawn_consumer(
            Consumer {
                durable: "payments-commands",
                filter,
                concurrency: 32,
                health: commands.clone(),
            },
            handle,
            shutdown.clone(),
        );
    }
    let router = Router::new()
        .route("/v1/payments/{order}", get(payment))
        .with_state(ctx);
    Ok((router, vec![commands]))
}

#[derive(Debug)]
enum Call {
    Declined,
    Unavailable(String),
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Declined => f.write_str("declined"),
            Call::Unavailable(e) => f.write_str(e),
        }
    }
}

async fn call(
    http: &reqwest::Client,
    url: &str,
    body: &impl serde::Serialize,
) -> Result<Value, Call> {
    let mut headers = http::HeaderMap::new();
    mspack_telemetry::inject_headers(&opentelemetry::Context::current(), &mut headers);
    let response = http
        .post(url)
        .headers(headers)
        .json(body)
        .send()
        .await
        .map_err(|e| Call::Unavailable(e.to_string()))?;
    match response.status().as_u16() {
        402 => Err(Call::Declined),
        200..=299 => response
            .json()
            .await
            .map_err(|e| Call::Unavailable(e.to_string())),
        status => Err(Call::Unavailable(format!("status {status}"))),
    }
}

async fn payment(
    State(ctx): State<ServiceCtx>,
    Path(order): Path<Uuid>,
) -> Result<axum::Json<Value>, mspack_problem::Problem> {
    ctx.aggregate_json::<Payment>(order, "payment").await
}
