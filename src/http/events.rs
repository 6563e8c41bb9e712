//! `GET /api/events/{variant}`: a range of events ascending by `seq`, for chart markers and
//! alert lists, and for paging a resume that exceeded the ack cap (`after_seq`).

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError, AppState,
    auth::Access,
    error::ErrorBody,
    params::{Params, TimeBound, variant_path},
    sorted_json,
};
use crate::{
    domain::{Event, EventType, Variant, VtSymbol},
    store::{EventQuery, TimeField},
};

/// The query parameters of this route.
const PARAMS: &[&str] = &[
    "vt_symbol",
    "type",
    "time_field",
    "start",
    "end",
    "after_seq",
    "limit",
];
/// Events per page when `limit` is absent.
const DEFAULT_LIMIT: u32 = 500;
/// Largest page.
const MAX_LIMIT: u32 = 5000;

/// The body of `GET /api/events/{variant}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPage {
    /// The events, ascending by `seq` (empty for an unknown variant).
    pub events: Vec<Event>,
    /// The `seq` of the last event returned, or the `after_seq` sent when the page is empty:
    /// pass it back as `after_seq` until a page has fewer than `limit` events.
    #[schema(minimum = 0)]
    pub next_after_seq: i64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// Events of a variant
///
/// The events of one variant in ascending `seq`, for chart markers and alert lists, and to
/// page a resume that was larger than the Socket.IO ack cap.
#[utoipa::path(
    get,
    path = "/events/{variant}",
    tag = "rest",
    params(
        ("variant" = Variant, Path, description = "The strategy variant"),
        ("vt_symbol" = Option<Vec<VtSymbol>>, Query, style = Form, explode = false, description = "One symbol or a comma-separated list (`rb2405.SHFE,au2406.SHFE`)"),
        ("type" = Option<EventType>, Query, description = "Only this event type"),
        ("time_field" = Option<TimeField>, Query, description = "The column `start`/`end` apply to (default `created_at`)"),
        ("start" = Option<TimeBound>, Query, description = "Inclusive lower time bound"),
        ("end" = Option<TimeBound>, Query, description = "Inclusive upper time bound; before `start` is a 400"),
        ("after_seq" = Option<i64>, Query, minimum = 0, description = "Only events with `seq > after_seq` (default 0)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 5000, description = "Page size (default 500)"),
    ),
    responses(
        (status = 200, description = "One page of events", body = EventPage),
        (status = 400, description = "`invalid_parameter` (named in the message) or `unknown_parameter`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the token does not grant the variant", body = ErrorBody),
    )
)]
async fn list_events(
    State(state): State<AppState>,
    access: Access,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let variant = variant_path(path)?;
    access.check(variant.as_str())?;
    let params = params.allow(PARAMS)?;
    let vt_symbols = match params.get("vt_symbol") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| VtSymbol::parse(s.trim()).map_err(|e| ApiError::invalid("vt_symbol", e.0)))
            .collect::<Result<_, _>>()?,
    };
    let event_type = params
        .get("type")
        .map(|t| EventType::parse(t).map_err(|m| ApiError::invalid("type", m)))
        .transpose()?;
    let time_field = match params.get("time_field") {
        None | Some("created_at") => TimeField::CreatedAt,
        Some("bar_dt") => TimeField::BarDt,
        Some(other) => {
            return Err(ApiError::invalid(
                "time_field",
                format!("'{other}' is not allowed; use created_at or bar_dt"),
            ));
        }
    };
    let (start, end) = params.range()?;
    let after_seq = params.non_negative("after_seq")?.unwrap_or(0);
    let limit = params.limit("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let query = EventQuery {
        variant: variant.as_str().to_owned(),
        vt_symbols,
        event_type,
        time_field,
        start,
        end,
        after_seq,
        limit,
    };
    let events = state.store.events(&query).await?;
    let next_after_seq = events.last().map_or(after_seq, |e| e.seq);
    sorted_json(&EventPage {
        events,
        next_after_seq,
    })
}
