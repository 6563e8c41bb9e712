//! `GET /api/snapshot/{variant}[?instance_id=]`: latest snapshots, served from memory (the
//! poller keeps them current).

use axum::{
    Json, Router,
    extract::{Path, State, rejection::PathRejection},
    routing::get,
};
use serde_json::{Value, json, value::RawValue};

use super::{
    ApiError,
    params::{Params, variant_path},
};
use crate::{domain::InstanceId, http::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/snapshot/{variant}", get(get_snapshot))
}

async fn get_snapshot(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let variant = variant_path(path)?;
    let params = params.allow(&["instance_id"])?;
    let instance = params
        .get("instance_id")
        .map(InstanceId::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("instance_id", e.0))?;
    if !state.hub.is_loaded() {
        return Err(ApiError::Unavailable);
    }
    let snapshots = state
        .hub
        .snapshots(variant.as_str(), instance.as_ref().map(InstanceId::as_str));
    if snapshots.is_empty() {
        return Err(ApiError::NotFound(match instance {
            Some(i) => format!("no snapshot for variant '{variant}' instance '{i}'"),
            None => format!("no snapshot for variant '{variant}'"),
        }));
    }
    let snapshots: Vec<&RawValue> = snapshots.iter().map(|s| &*s.json).collect();
    Ok(Json(json!({ "variant": variant, "snapshots": snapshots })))
}
