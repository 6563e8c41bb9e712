//! `GET /api/variants`: every variant with its instances and latest update.

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use super::{ApiError, params::Params};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/variants", get(list))
}

async fn list(State(state): State<AppState>, params: Params) -> Result<Json<Value>, ApiError> {
    params.allow(&[])?;
    let variants = state.store.variants().await?;
    Ok(Json(json!({ "variants": variants })))
}
