//! `GET /api/variants`: every variant the caller may read, with its instances and latest
//! update.

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use super::{ApiError, params::Params};
use crate::{auth::rest::Access, http::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/variants", get(list))
}

async fn list(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.allow(&[])?;
    let mut variants = state.store.variants().await?;
    variants.retain(|v| access.allows(&v.variant));
    Ok(Json(json!({ "variants": variants })))
}
