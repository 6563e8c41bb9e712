//! `GET /api/bars`: OHLC bars from VnPy's `dbbardata`, converted from the bars' zone to UTC,
//! optionally merged into at most `max_points` buckets.

use axum::{Json, Router, extract::State, routing::get};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{ApiError, params::Params};
use crate::{
    domain::{Bar, Interval, VtSymbol, bucket_bars},
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

fn to_local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

fn to_utc(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    // A local time skipped by a DST change has no UTC instant; read it as if it were UTC offset.
    tz.from_local_datetime(&t)
        .earliest()
        .map_or_else(|| t.and_utc(), |l| l.with_timezone(&Utc))
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
        start: start.map(|t| to_local(tz, t)),
        end: end.map(|t| to_local(tz, t)),
        limit,
    };
    let bars: Vec<Bar> = state
        .store
        .bars(&query)
        .await?
        .into_iter()
        .map(|b| Bar {
            datetime: to_utc(tz, b.datetime),
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            turnover: b.turnover,
            open_interest: b.open_interest,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_round_trip() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let local =
            NaiveDateTime::parse_from_str("2024-05-01 09:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let utc = to_utc(tz, local);
        assert_eq!(crate::domain::fmt_time(&utc), "2024-05-01T01:30:00.000000Z");
        assert_eq!(to_local(tz, utc), local);
    }
}
