//! `GET /api/overview`: one summary per variant the caller may read, served from memory (the
//! hub keeps them current; see [`crate::realtime::overview`]).

use axum::{Json, extract::State};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, auth::Access, error::ErrorBody, params::Params};
use crate::{domain::OverviewSummary, realtime::overview::list_json};

/// The body of `GET /api/overview`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverviewList {
    /// Every variant with a snapshot or an event position that the token grants, by name.
    pub variants: Vec<OverviewSummary>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_overview))
}

/// Overview of all variants
///
/// One summary per variant (instances, instruments, lights on, newest snapshot time, event
/// position and the newest event seen since the gateway started), served from the gateway's
/// memory. With authentication on, only the variants the token grants. `subscribe_overview`
/// over Socket.IO pushes the same summaries as they change.
#[utoipa::path(
    get,
    path = "/overview",
    tag = "rest",
    responses(
        (status = 200, description = "The summaries, by variant", body = OverviewList),
        (status = 400, description = "`unknown_parameter`: this route takes no query parameters", body = ErrorBody),
        (status = 503, description = "`database_unavailable`: the live state is not loaded yet", body = ErrorBody),
    )
)]
async fn get_overview(
    State(state): State<AppState>,
    access: Access,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.allow(&[])?;
    if !state.hub.is_loaded() {
        return Err(ApiError::Unavailable);
    }
    let summaries = state.hub.overview().summaries(|v| access.allows(v));
    let body = list_json("", summaries.iter().map(|s| &**s))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("overview is not valid JSON")))?;
    serde_json::from_str(body.get())
        .map(Json)
        .map_err(|e| ApiError::Internal(e.into()))
}
