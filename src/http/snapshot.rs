//! `GET /api/snapshot/{variant}[?instance_id=]`: latest snapshots, served from memory (the
//! poller keeps them current).

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
};
use serde_json::{Value, value::RawValue};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    auth::Access,
    error::ErrorBody,
    params::{Params, variant_path},
    sorted_json,
};
use crate::domain::{InstanceId, Snapshot, Variant};

/// The body of `GET /api/snapshot/{variant}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotList<'a> {
    /// The latest snapshot of each instance (one with `instance_id`), never empty.
    #[schema(value_type = Vec<Snapshot>, min_items = 1)]
    pub snapshots: Vec<&'a RawValue>,
    /// The variant asked for.
    #[schema(value_type = String)]
    pub variant: Variant,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_snapshot))
}

/// Latest snapshots of a variant
///
/// The latest snapshot of each instance of the variant (or only of `instance_id`), served from
/// the gateway's memory, which the poller keeps current.
#[utoipa::path(
    get,
    path = "/snapshot/{variant}",
    tag = "rest",
    params(
        ("variant" = Variant, Path, description = "The strategy variant"),
        ("instance_id" = Option<InstanceId>, Query, description = "Only this instance (an empty value counts as absent)"),
    ),
    responses(
        (status = 200, description = "The snapshots", body = SnapshotList),
        (status = 400, description = "`invalid_parameter` (`variant`, `instance_id`) or `unknown_parameter`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the token does not grant the variant", body = ErrorBody),
        (status = 404, description = "`not_found`: no snapshot for the variant (or the instance)", body = ErrorBody),
    )
)]
async fn get_snapshot(
    State(state): State<AppState>,
    access: Access,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let variant = variant_path(path)?;
    access.check(variant.as_str())?;
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
    sorted_json(&SnapshotList { snapshots, variant })
}
