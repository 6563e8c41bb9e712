//! `GET /api/bars`: OHLC bars from VnPy's `dbbardata`, converted from the bars' zone to UTC,
//! optionally merged into at most `max_points` buckets.

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use super::{ApiError, params::Params};
use crate::{
    domain::{Bar, Interval, VtSymbol, bucket_bars, utc_to_local},
    http::AppState,
    store::BarQuery,
};

/// Bars returned when `limit` is absent.
const DEFAULT_LIMIT: u32 = 1000;
/// Largest raw read (about 70 days of 1-minute bars).
const MAX_LIMIT: u32 = 100_000;
/// Largest `max_points`.
const MAX_POINTS: u32 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/bars", get(list))
}

async fn list(State(state): State<AppState>, params: Params) -> Result<Json<Value>, ApiError> {
    let vt_symbol = VtSymbol::parse(params.required("vt_symbol")?)
        .map_err(|e| ApiError::invalid("vt_symbol", e.0))?;
    let interval = Interval::parse(params.required("interval")?)
        .map_err(|e| ApiError::invalid("interval", e.0))?;
    let (start, end) = params.range()?;
    let limit = params.limit("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let max_points = params
        .get("max_points")
        .map(|_| params.limit("max_points", MAX_POINTS, MAX_POINTS))
        .transpose()?;
    let tz = state.bars_tz;
    let query = BarQuery {
        vt_symbol: vt_symbol.clone(),
        interval,
        start: start.map(|t| utc_to_local(tz, t)),
        end: end.map(|t| utc_to_local(tz, t)),
        limit,
    };
    let bars: Vec<Bar> = state
        .store
        .bars(&query)
        .await?
        .iter()
        .map(|b| b.to_utc(tz))
        .collect();
    let bars = match max_points {
        Some(n) => bucket_bars(bars, n as usize),
        None => bars,
    };
    Ok(Json(json!({
        "vt_symbol": vt_symbol,
        "interval": interval,
        "bars": bars,
    })))
}
