//! `GET /api/config`: the settings a dashboard needs to present the data (the bars' time zone,
//! the overview cadence).

use axum::{Json, extract::State};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, error::ErrorBody, params::Params, sorted_json};

/// The body of `GET /api/config`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// IANA zone of the bar times (`--bars-timezone`): the exchange's local time; resampled bar
    /// buckets are aligned in it.
    #[schema(example = "Asia/Shanghai")]
    pub bars_timezone: String,
    /// `--overview-interval-ms`: how often `overview_update` is pushed at most.
    pub overview_interval_ms: u64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_config))
}

/// Dashboard settings
///
/// The gateway settings a dashboard needs: the bars' time zone and the overview cadence.
#[utoipa::path(
    get,
    path = "/config",
    tag = "rest",
    responses(
        (status = 200, description = "The settings", body = ClientConfig),
        (status = 400, description = "`unknown_parameter`: this route takes no query parameters", body = ErrorBody),
    )
)]
async fn get_config(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.allow(&[])?;
    sorted_json(&ClientConfig {
        bars_timezone: state.bars_tz.name().to_owned(),
        overview_interval_ms: state.overview_interval_ms,
    })
}
