//! OHLC bars, the `max_points` down-sampling and the clock-aligned resampling of stored bars
//! into longer intervals.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use super::{
    Interval,
    time::{fmt_time, local_to_utc},
};

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
            let (first, rest) = chunk.split_first()?;
            Some(rest.iter().fold(first.clone(), |acc, b| acc.merged(b)))
        })
        .collect()
}

impl Bar {
    /// This bar followed by `next`: its time and open, the extremes of both, `next`'s close and
    /// open interest, summed volume and turnover.
    fn merged(mut self, next: &Bar) -> Bar {
        self.high = self.high.max(next.high);
        self.low = self.low.min(next.low);
        self.close = next.close;
        self.volume += next.volume;
        self.turnover += next.turnover;
        self.open_interest = next.open_interest;
        self
    }
}

/// Merges bars (each with its naive local start time in zone `tz`, ascending) into
/// clock-aligned buckets of `interval` ([`Interval::bucket_start`]): first open, max high, min
/// low, last close, summed volume and turnover, last open interest; each bucket's time is its
/// start in UTC. Buckets without bars are not emitted, so trading-session gaps stay gaps.
pub fn resample(
    bars: impl IntoIterator<Item = (NaiveDateTime, Bar)>,
    interval: Interval,
    tz: Tz,
) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    let mut current: Option<NaiveDateTime> = None;
    for (local, bar) in bars {
        let start = interval.bucket_start(local);
        match out.last_mut() {
            Some(last) if current == Some(start) => *last = last.clone().merged(&bar),
            _ => {
                current = Some(start);
                out.push(Bar {
                    datetime: local_to_utc(tz, start),
                    ..bar
                });
            }
        }
    }
    out
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

    /// A 1-minute bar at local `hh:mm` on 2024-05-`day` with close `c`.
    fn local(day: u32, hh: u32, mm: u32, c: f64) -> (NaiveDateTime, Bar) {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 5, day)
            .and_then(|d| d.and_hms_opt(hh, mm, 0))
            .unwrap_or_default();
        let bar = Bar {
            datetime: t.and_utc(),
            open: c - 0.5,
            high: c + 1.0,
            low: c - 1.0,
            close: c,
            volume: 1.0,
            turnover: 10.0,
            open_interest: c,
        };
        (t, bar)
    }

    #[test]
    fn resampling_aligns_to_local_clock_and_keeps_gaps() {
        let tz: Tz = "Asia/Shanghai".parse().expect("zone");
        // 09:58..10:01 and, after the lunch break, 13:30: three 1h buckets, none for 11-13.
        let bars = vec![
            local(6, 9, 58, 1.0),
            local(6, 9, 59, 5.0),
            local(6, 10, 0, 2.0),
            local(6, 10, 1, 3.0),
            local(6, 13, 30, 4.0),
        ];
        let out = resample(bars.clone(), Interval::Hour, tz);
        let times: Vec<String> = out.iter().map(|b| fmt_time(&b.datetime)).collect();
        // Local 09:00, 10:00 and 13:00 in Shanghai (UTC+8).
        assert_eq!(
            times,
            [
                "2024-05-06T01:00:00.000000Z",
                "2024-05-06T02:00:00.000000Z",
                "2024-05-06T05:00:00.000000Z"
            ]
        );
        assert_eq!((out[0].open, out[0].high, out[0].low), (0.5, 6.0, 0.0));
        assert_eq!(
            (out[0].close, out[0].volume, out[0].turnover),
            (5.0, 2.0, 20.0)
        );
        assert_eq!((out[1].close, out[1].open_interest), (3.0, 3.0));
        // 15m: 09:45, 10:00, 13:30; 4h: 08:00 and 12:00 from local midnight.
        assert_eq!(resample(bars.clone(), Interval::Minute15, tz).len(), 3);
        let four = resample(bars.clone(), Interval::Hour4, tz);
        assert_eq!(fmt_time(&four[0].datetime), "2024-05-06T00:00:00.000000Z");
        assert_eq!(fmt_time(&four[1].datetime), "2024-05-06T04:00:00.000000Z");
        // A day is the local calendar day; a night session after 21:00 starts a new one only
        // after local midnight.
        let mut days = bars;
        days.push(local(6, 23, 59, 6.0));
        days.push(local(7, 0, 1, 7.0));
        let d = resample(days.clone(), Interval::Daily, tz);
        assert_eq!(d.len(), 2);
        assert_eq!(fmt_time(&d[0].datetime), "2024-05-05T16:00:00.000000Z");
        assert_eq!(d[0].close, 6.0);
        // 2024-05-06 is a Monday, 2024-05-12 a Sunday: one ISO week; 05-13 starts the next.
        days.push(local(12, 12, 0, 8.0));
        days.push(local(13, 9, 0, 9.0));
        let w = resample(days, Interval::Weekly, tz);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].close, w[1].open), (8.0, 8.5));
    }

    #[test]
    fn bucket_start_in_utc_and_a_zone_behind_it() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
        assert_eq!(
            Interval::Minute5.bucket_start(t("2024-05-06 10:04")),
            t("2024-05-06 10:00")
        );
        assert_eq!(
            Interval::Minute30.bucket_start(t("2024-05-06 10:59")),
            t("2024-05-06 10:30")
        );
        assert_eq!(
            Interval::Hour4.bucket_start(t("2024-05-06 03:59")),
            t("2024-05-06 00:00")
        );
        assert_eq!(
            Interval::Weekly.bucket_start(t("2024-05-12 23:59")),
            t("2024-05-06 00:00")
        );
        // New York local times: the bucket is the local hour, in UTC four hours later (EDT).
        let ny: Tz = "America/New_York".parse().expect("zone");
        let out = resample(vec![local(6, 9, 31, 1.0)], Interval::Hour, ny);
        assert_eq!(fmt_time(&out[0].datetime), "2024-05-06T13:00:00.000000Z");
    }

    #[test]
    fn small_inputs_pass_through() {
        assert_eq!(bucket_bars((0..3).map(bar).collect(), 5).len(), 3);
    }
}
