//! OHLC bars and the `max_points` down-sampling.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::time::fmt_time;

/// One bar as served by `GET /api/bars` (times already converted to UTC).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bar {
    /// Bar start time in UTC.
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime, example = "2024-05-01T01:30:00.000000Z")]
    pub datetime: DateTime<Utc>,
    /// First price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Last price.
    pub close: f64,
    /// Traded volume.
    pub volume: f64,
    /// Traded value.
    pub turnover: f64,
    /// Open interest at the bar's end.
    pub open_interest: f64,
}

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_time(t))
}

/// Merges consecutive bars into at most `max_points` OHLC buckets of equal bar count: first
/// open, max high, min low, last close, summed volume and turnover, last open interest; the
/// bucket's time is its first bar's. Input must be ascending by time.
pub fn bucket_bars(bars: Vec<Bar>, max_points: usize) -> Vec<Bar> {
    if max_points == 0 || bars.len() <= max_points {
        return bars;
    }
    let per_bucket = bars.len().div_ceil(max_points);
    bars.chunks(per_bucket)
        .filter_map(|chunk| {
            let first = chunk.first()?;
            let last = chunk.last()?;
            Some(Bar {
                datetime: first.datetime,
                open: first.open,
                high: chunk.iter().map(|b| b.high).fold(f64::MIN, f64::max),
                low: chunk.iter().map(|b| b.low).fold(f64::MAX, f64::min),
                close: last.close,
                volume: chunk.iter().map(|b| b.volume).sum(),
                turnover: chunk.iter().map(|b| b.turnover).sum(),
                open_interest: last.open_interest,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(i: i64) -> Bar {
        let p = i as f64;
        Bar {
            datetime: DateTime::from_timestamp(i * 60, 0).unwrap_or_default(),
            open: p,
            high: p + 2.0,
            low: p - 1.0,
            close: p + 1.0,
            volume: 10.0,
            turnover: 100.0,
            open_interest: p,
        }
    }

    #[test]
    fn buckets_merge_ohlc() {
        let out = bucket_bars((0..10).map(bar).collect(), 3);
        assert_eq!(out.len(), 3); // 4 + 4 + 2
        assert_eq!(out[0].open, 0.0);
        assert_eq!(out[0].high, 5.0);
        assert_eq!(out[0].low, -1.0);
        assert_eq!(out[0].close, 4.0);
        assert_eq!(out[0].volume, 40.0);
        assert_eq!(out[2].close, 10.0);
        assert_eq!(out[2].datetime, bar(8).datetime);
    }

    #[test]
    fn small_inputs_pass_through() {
        assert_eq!(bucket_bars((0..3).map(bar).collect(), 5).len(), 3);
    }
}
