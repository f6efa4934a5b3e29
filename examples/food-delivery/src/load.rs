//! The load generator: places orders over HTTP at a steady rate and waits for each to reach a
//! terminal state (delivered or cancelled), measuring end-to-end latency. Retries what a
//! restarting service refuses, with the same `Idempotency-Key`, so a chaos run loses no order
//! to the client either.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::domain::Scenario;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The orders service.
    pub url: String,
    /// How many orders.
    pub orders: usize,
    /// Orders per second.
    pub rate: f64,
    /// Give planned failures to some orders (declines, kitchen refusals, provider timeouts,
    /// customer cancellations), as the chaos run does.
    pub mix: bool,
    /// Keys of this run's orders (so two runs don't share Idempotency-Keys).
    pub run_id: String,
    /// How long to wait for one order to end.
    pub order_timeout: Duration,
}

/// The plan for the `i`th order of a mixed load.
pub fn plan(i: usize, mix: bool) -> (Scenario, bool) {
    if !mix {
        return (Scenario::Normal, false);
    }
    match i % 20 {
        3 | 13 => (Scenario::Decline, false),
        6 => (Scenario::KitchenReject, false),
        9 => (Scenario::ProviderTimeout, false),
        16 => (Scenario::Normal, true),
        _ => (Scenario::Normal, false),
    }
}

/// One order's result.
#[derive(Debug, Clone, Serialize)]
pub struct OrderResult {
    /// Its id (if it was placed).
    pub order_id: Option<Uuid>,
    /// `delivered`, `cancelled`, or where it got stuck.
    pub status: String,
    /// Post to terminal state, in ms.
    pub latency_ms: Option<f64>,
    /// Planned scenario.
    pub scenario: Scenario,
    /// The customer asked to cancel.
    pub cancel: bool,
}

/// The figures of a load run (printed as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Orders sent.
    pub orders: usize,
    /// Delivered.
    pub completed: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Neither within the timeout (or never placed).
    pub unfinished: usize,
    /// Terminal orders per second over the run.
    pub orders_per_s: f64,
    /// End-to-end latency, median.
    pub p50_ms: f64,
    /// End-to-end latency, 99th percentile.
    pub p99_ms: f64,
    /// Every order (not printed by `load`).
    #[serde(skip)]
    pub results: Vec<OrderResult>,
}

async fn with_retries<F, Fut>(deadline: Instant, mut call: F) -> Option<(u16, Value)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    let mut pause = Duration::from_millis(20);
    while Instant::now() < deadline {
        if let Ok(response) = call().await {
            let status = response.status().as_u16();
            if status < 500 {
                let body = response.json().await.unwrap_or(Value::Null);
                return Some((status, body));
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
    None
}

async fn one(client: reqwest::Client, cfg: Arc<LoadConfig>, i: usize) -> OrderResult {
    let (scenario, cancel) = plan(i, cfg.mix);
    let started = Instant::now();
    let deadline = started + cfg.order_timeout;
    let key = format!("{}-{i}", cfg.run_id);
    let body = json!({
        "customer": format!("customer-{}", i % 97),
        "lines": [{ "sku": "margherita", "qty": 1 + i % 3 }],
        "total_cents": 1200 + (i % 7) as u64 * 100,
        "scenario": scenario,
    });
    let url = format!("{}/v1/orders", cfg.url);
    let placed = with_retries(deadline, || {
        client
            .post(&url)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
    })
    .await;
    let mut result = OrderResult {
        order_id: None,
        status: "not placed".to_owned(),
        latency_ms: None,
        scenario,
        cancel,
    };
    let Some((status, body)) = placed else {
        return result;
    };
    let Some(id) = body["order_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        result.status = format!("refused ({status}): {body}");
        return result;
    };
    result.order_id = Some(id);
    if cancel {
        let url = format!("{}/v1/orders/{id}/cancel", cfg.url);
        let _ = with_retries(deadline, || client.post(&url).send()).await;
    }
    let url = format!("{}/v1/orders/{id}?wait=true&timeout_ms=5000", cfg.url);
    while Instant::now() < deadline {
        if let Some((_, body)) = with_retries(deadline, || client.get(&url).send()).await {
            let status = body["status"].as_str().unwrap_or("unknown").to_owned();
            if status == "delivered" || status == "cancelled" {
                result.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                result.status = status;
                return result;
            }
            result.status = status;
        }
    }
    result
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Places `cfg.orders` orders at `cfg.rate` per second and waits for all of them.
pub async fn run(cfg: LoadConfig) -> LoadReport {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default();
    let cfg = Arc::new(cfg);
    let results = Arc::new(Mutex::new(Vec::with_capacity(cfg.orders)));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    let mut tasks = Vec::with_capacity(cfg.orders);
    for i in 0..cfg.orders {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let (client, cfg, results) = (client.clone(), cfg.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let result = one(client, cfg, i).await;
            results.lock().await.push(result);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let results = std::mem::take(&mut *results.lock().await);
    let mut latencies: Vec<f64> = results.iter().filter_map(|r| r.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let completed = results.iter().filter(|r| r.status == "delivered").count();
    let cancelled = results.iter().filter(|r| r.status == "cancelled").count();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    LoadReport {
        orders: cfg.orders,
        completed,
        cancelled,
        unfinished: cfg.orders - completed - cancelled,
        orders_per_s: round((completed + cancelled) as f64 / elapsed.max(0.001)),
        p50_ms: round(percentile(&latencies, 0.5)),
        p99_ms: round(percentile(&latencies, 0.99)),
        results,
    }
}
