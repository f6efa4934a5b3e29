//! The reference for `scripts/bench-service.sh`: the generated service's routes on bare axum
//! (no telemetry, no problem details, no middleware), built in the scaffolded project so both
//! binaries use the same locked crates. Copied to `src/bin/bare.rs` of a scratch scaffold only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct NewItem {
    name: String,
}

#[derive(Clone, Default)]
struct AppState {
    next_id: Arc<AtomicU64>,
    items: Arc<Mutex<BTreeMap<u64, Item>>>,
}

async fn create_item(
    State(state): State<AppState>,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), StatusCode> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let id = state.next_id.fetch_add(1, Ordering::SeqCst) + 1;
    let item = Item {
        id,
        name: name.to_owned(),
    };
    state
        .items
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .insert(id, item.clone());
    Ok((StatusCode::CREATED, Json(item)))
}

async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Item>, StatusCode> {
    let items = state
        .items
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    items.get(&id).cloned().map(Json).ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new()
        .route("/livez", get(|| async { StatusCode::OK }))
        .route("/readyz", get(|| async { StatusCode::OK }))
        .route("/v1/items", post(create_item))
        .route("/v1/items/{id}", get(get_item))
        .with_state(AppState::default());
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    axum::serve(listener, app).await
}
