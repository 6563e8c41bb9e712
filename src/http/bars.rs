//! `GET /api/bars`: OHLC bars from VnPy's `dbbardata`, converted from the bars' zone to UTC,
//! resampled from stored 1-minute bars when the interval is not stored, optionally merged into
//! at most `max_points` buckets.

use axum::{Json, extract::State};
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ApiError,
    error::ErrorBody,
    params::{Params, TimeBound},
    sorted_json,
};
use crate::{
    domain::{Bar, Interval, MAX_TIME, MIN_TIME, VtSymbol, bucket_bars, utc_to_local},
    http::AppState,
    store::{BarQuery, resample::read_bars},
};

/// The query parameters of this route.
const PARAMS: &[&str] = &[
    "vt_symbol",
    "interval",
    "start",
    "end",
    "limit",
    "max_points",
];
/// Bars returned when `limit` is absent.
const DEFAULT_LIMIT: u32 = 1000;
/// Largest raw read (about 70 days of 1-minute bars).
const MAX_LIMIT: u32 = 100_000;
/// Largest `max_points`.
const MAX_POINTS: u32 = 10_000;

/// The body of `GET /api/bars`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BarSeries {
    /// The bars (or buckets), ascending by time.
    pub bars: Vec<Bar>,
    /// The interval asked for (`1d` is answered as `d`).
    pub interval: Interval,
    /// `1m` when the bars were resampled from stored 1-minute bars (the interval is not stored
    /// for the symbol); absent when they are stored as served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resampled_from: Option<Interval>,
    /// The symbol asked for.
    pub vt_symbol: VtSymbol,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_bars))
}

/// A UTC bound as VnPy's naive local time, kept inside the accepted years (a bound at the end of
/// year 9999 would otherwise become year 10000 east of UTC, which no backend orders correctly).
fn to_local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    utc_to_local(tz, t).clamp(MIN_TIME.naive_utc(), MAX_TIME.naive_utc())
}

/// OHLC bars
///
/// Bars from VnPy's `dbbardata`, ascending by time, converted from `--bars-timezone` to UTC.
/// An interval the symbol has no stored bars of (`5m`, `15m`, `30m`, `4h` always; `1h`, `d`, `w`
/// when not stored) is resampled from its stored 1-minute bars, in buckets aligned to the
/// clock in `--bars-timezone` (multiples of the interval from local midnight; `d` the local
/// day, `w` the ISO week); buckets without bars are left out (session gaps stay gaps), and
/// `limit` counts buckets. Optionally merged into at most `max_points` buckets of equal bar
/// count (first open, max high, min low, last close, summed volume and turnover, last open
/// interest; the bucket's time is its first bar's).
#[utoipa::path(
    get,
    path = "/bars",
    tag = "rest",
    params(
        ("vt_symbol" = VtSymbol, Query, description = "Exactly one symbol (a list is a 400)"),
        ("interval" = Interval, Query, description = "Bar interval; `1d` is accepted for `d`. Not stored for the symbol: resampled from its 1-minute bars"),
        ("start" = Option<TimeBound>, Query, description = "Inclusive lower time bound"),
        ("end" = Option<TimeBound>, Query, description = "Inclusive upper time bound; before `start` is a 400"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100000, description = "Bars read (default 1000). With `start`: the first `limit` bars from `start`; without: the latest `limit` bars up to `end`"),
        ("max_points" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "Merge the bars read into at most this many buckets"),
    ),
    responses(
        (status = 200, description = "The bars", body = BarSeries),
        (status = 400, description = "`missing_parameter`, `invalid_parameter` (named in the message) or `unknown_parameter`", body = ErrorBody),
    )
)]
async fn list_bars(State(state): State<AppState>, params: Params) -> Result<Json<Value>, ApiError> {
    let params = params.allow(PARAMS)?;
    let raw_symbol = params.required("vt_symbol")?;
    if raw_symbol.contains(',') {
        return Err(ApiError::invalid(
            "vt_symbol",
            format!("'{raw_symbol}' is a list; /api/bars takes exactly one vt_symbol"),
        ));
    }
    let vt_symbol = VtSymbol::parse(raw_symbol).map_err(|e| ApiError::invalid("vt_symbol", e.0))?;
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
        start: start.map(|t| to_local(tz, t)),
        end: end.map(|t| to_local(tz, t)),
        limit,
    };
    let served = read_bars(state.store.as_ref(), tz, &query).await?;
    let bars: Vec<Bar> = match max_points {
        Some(n) => bucket_bars(served.bars, n as usize),
        None => served.bars,
    };
    sorted_json(&BarSeries {
        bars,
        interval,
        resampled_from: served.resampled_from,
        vt_symbol,
    })
}
