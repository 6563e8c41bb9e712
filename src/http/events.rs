//! `GET /api/events/{variant}`: a range of events ascending by `seq`, for chart markers and
//! alert lists, and for paging a resume that exceeded the ack cap (`after_seq`).

use axum::{
    Json, Router,
    extract::{Path, State, rejection::PathRejection},
    routing::get,
};
use serde_json::{Value, json};

use super::{
    ApiError,
    params::{Params, variant_path},
};
use crate::{
    domain::{EventType, VtSymbol},
    http::AppState,
    store::{EventQuery, TimeField},
};

/// Events per page when `limit` is absent.
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
const DEFAULT_LIMIT: u32 = 500;
/// Largest page.
const MAX_LIMIT: u32 = 5000;

pub fn router() -> Router<AppState> {
    Router::new().route("/events/{variant}", get(list))
}

async fn list(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let variant = variant_path(path)?;
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
    let next = events.last().map_or(after_seq, |e| e.seq);
    Ok(Json(json!({ "events": events, "next_after_seq": next })))
}
