//! The external payment provider, simulated as its own HTTP process with its own ledger: it
//! honours idempotency keys (a key is charged at most once, whatever the retries), declines
//! when told to, answers late when told to, and keeps the ledger the chaos run audits.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mspack_eventstore::TablePrefix;
use mspack_eventstore::sql::{Database, Sql};
use mspack_problem::{Json, Problem};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// The ledger's tables.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS {p}charges (idempotency_key TEXT PRIMARY KEY, charge_id TEXT NOT NULL, \
     order_id TEXT NOT NULL, amount_cents BIGINT NOT NULL, status TEXT NOT NULL)",
    // Every charge the provider created, one row each: the audit of "never two for one key".
    "CREATE TABLE IF NOT EXISTS {p}charge_log (charge_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL, \
     order_id TEXT NOT NULL)",
];

#[derive(Clone)]
struct Provider {
    db: Database,
    insert: Sql,
    log: Sql,
    find: Sql,
    refund: Sql,
    void: Sql,
    /// Unix ms until which every charge is answered late (the chaos run's "slow provider").
    slow_until_ms: Arc<AtomicI64>,
    slow_ms: Arc<AtomicI64>,
}

/// A charge request.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChargeRequest {
    /// The same for every attempt of one saga step.
    pub idempotency_key: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Amount.
    pub amount_cents: u64,
    /// `decline` or `timeout`, for tests.
    #[serde(default)]
    pub simulate: Option<String>,
}

/// A refund request.
#[derive(Debug, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The charge's idempotency key.
    pub idempotency_key: Uuid,
}

/// Slowness for a while.
#[derive(Debug, Serialize, Deserialize)]
pub struct Mode {
    /// Delay every charge answer by this much...
    pub slow_ms: i64,
    /// ...for this long.
    pub for_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn unavailable(e: impl std::fmt::Display) -> Problem {
    Problem::new(503).with_detail(e.to_string())
}

/// Creates the ledger and returns the provider's routes.
pub async fn router(db: Database, prefix: &TablePrefix) -> anyhow::Result<Router> {
    for ddl in SCHEMA {
        db.execute(&Sql::both(prefix, ddl), &[]).await?;
    }
    let provider = Provider {
        insert: Sql::both(
            prefix,
            "INSERT INTO {p}charges (idempotency_key, charge_id, order_id, amount_cents, status) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
        ),
        log: Sql::both(
            prefix,
            "INSERT INTO {p}charge_log (charge_id, idempotency_key, order_id) VALUES ($1, $2, $3)",
        ),
        find: Sql::both(
            prefix,
            "SELECT charge_id, status FROM {p}charges WHERE idempotency_key = $1",
        ),
        refund: Sql::both(
            prefix,
            "UPDATE {p}charges SET status = 'refunded' WHERE idempotency_key = $1 AND status = 'charged'",
        ),
        void: Sql::both(
            prefix,
            "INSERT INTO {p}charges (idempotency_key, charge_id, order_id, amount_cents, status) \
             VALUES ($1, '', '', 0, 'voided') ON CONFLICT (idempotency_key) DO NOTHING",
        ),
        db,
        slow_until_ms: Arc::new(AtomicI64::new(0)),
        slow_ms: Arc::new(AtomicI64::new(0)),
    };
    Ok(Router::new()
        .route("/v1/charges", post(charge))
        .route("/v1/refunds", post(refund))
        .route("/admin/mode", post(mode))
        .with_state(provider))
}

async fn charge(
    State(p): State<Provider>,
    Json(req): Json<ChargeRequest>,
) -> Result<Response, Problem> {
    if p.slow_until_ms.load(Ordering::Relaxed) > now_ms() {
        let ms = u64::try_from(p.slow_ms.load(Ordering::Relaxed)).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let key = req.idempotency_key.to_string();
    let existing =
        p.db.fetch_optional(&p.find, &[key.as_str().into()])
            .await
            .map_err(unavailable)?;
    if let Some(row) = existing {
        return Ok(answer(
            &row.text(0, "charge").map_err(unavailable)?,
            &row.text(1, "status").map_err(unavailable)?,
        ));
    }
    let declined = req.simulate.as_deref() == Some("decline");
    let charge_id = format!("ch_{}", Uuid::now_v7().simple());
    let status = if declined { "declined" } else { "charged" };
    let order = req.order_id.to_string();
    let amount = i64::try_from(req.amount_cents)
        .map_err(|_| Problem::new(422).with_detail("amount out of range"))?;
    let mut tx = p.db.begin().await.map_err(unavailable)?;
    let created = tx
        .execute(
            &p.insert,
            &[
                key.as_str().into(),
                charge_id.as_str().into(),
                order.as_str().into(),
                amount.into(),
                status.into(),
            ],
        )
        .await
        .map_err(unavailable)?;
    if created == 1 && !declined {
        tx.execute(
            &p.log,
            &[
                charge_id.as_str().into(),
                key.as_str().into(),
                order.as_str().into(),
            ],
        )
        .await
        .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)?;
    if created == 0 {
        // A concurrent request with the same key won: answer what it stored.
        let row =
            p.db.fetch_one(&p.find, &[key.as_str().into()])
                .await
                .map_err(unavailable)?;
        return Ok(answer(
            &row.text(0, "charge").map_err(unavailable)?,
            &row.text(1, "status").map_err(unavailable)?,
        ));
    }
    if req.simulate.as_deref() == Some("timeout") {
        // Charged, but the answer comes after the caller has given up.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok(answer(&charge_id, status))
}

fn answer(charge_id: &str, status: &str) -> Response {
    match status {
        "declined" => Problem::typed(
            "https://mspack.dev/problems/card-declined",
            "Card declined",
            402,
        )
        .with_detail("the card was declined")
        .into_response(),
        "voided" => Problem::typed("https://mspack.dev/problems/voided", "Payment voided", 402)
            .with_detail("this payment was cancelled before it was charged")
            .into_response(),
        _ => (
            StatusCode::OK,
            axum::Json(json!({ "charge_id": charge_id, "status": status })),
        )
            .into_response(),
    }
}

async fn refund(
    State(p): State<Provider>,
    Json(req): Json<RefundRequest>,
) -> Result<Response, Problem> {
    let key = req.idempotency_key.to_string();
    // First void the key if it was never charged: a charge arriving later with it is refused,
    // as payment APIs do with a cancelled intent. A charge of the same key still being written
    // makes this wait for it (the key is unique), so the refund below sees it and undoes it
    // instead of answering "nothing to refund" while the charge lands.
    p.db.execute(&p.void, &[key.as_str().into()])
        .await
        .map_err(unavailable)?;
    let changed =
        p.db.execute(&p.refund, &[key.as_str().into()])
            .await
            .map_err(unavailable)?;
    let row =
        p.db.fetch_optional(&p.find, &[key.as_str().into()])
            .await
            .map_err(unavailable)?;
    let body = match row {
        Some(row) if row.text(1, "status").map_err(unavailable)? == "refunded" => json!({
            "refunded": true,
            "repeated": changed == 0,
            "charge_id": row.text(0, "charge").map_err(unavailable)?,
        }),
        _ => json!({ "refunded": false }),
    };
    Ok(axum::Json(body).into_response())
}

async fn mode(State(p): State<Provider>, Json(m): Json<Mode>) -> StatusCode {
    p.slow_ms.store(m.slow_ms, Ordering::Relaxed);
    p.slow_until_ms
        .store(now_ms().saturating_add(m.for_ms), Ordering::Relaxed);
    StatusCode::NO_CONTENT
}
