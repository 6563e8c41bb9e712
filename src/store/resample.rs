//! Bars of any [`Interval`]: a stored series as it is, otherwise resampled from the symbol's
//! stored 1-minute bars ([`resample`]), reading only the requested time range.

use chrono_tz::Tz;

use super::{BarQuery, Store, StoreError};
use crate::domain::{Bar, Interval, VtSymbol, resample};

/// Most 1-minute bars read for one resampled answer (about 70 days).
pub const MAX_SOURCE_BARS: u32 = 100_000;

/// Bars as served, and what they were resampled from (`None`: stored as they are).
#[derive(Debug, Clone)]
pub struct ServedBars {
    /// Ascending by time, in UTC.
    pub bars: Vec<Bar>,
    /// `Some(Interval::Minute)` when resampled from stored 1-minute bars.
    pub resampled_from: Option<Interval>,
}

/// Whether `interval` is served from its own stored series for `vt_symbol`: `1m` always, `1h`,
/// `d` and `w` when the symbol has bars of it (one index probe), the others never.
pub async fn is_stored(
    store: &dyn Store,
    vt_symbol: &VtSymbol,
    interval: Interval,
) -> Result<bool, StoreError> {
    if interval == Interval::Minute {
        return Ok(true);
    }
    if !interval.is_stored_kind() {
        return Ok(false);
    }
    Ok(store.last_bar_time(vt_symbol, interval).await?.is_some())
}

/// The bars `q` asks for (times in zone `tz`): stored, or resampled from the 1-minute bars of
/// the same range. A resampled read starts at the bucket holding `q.start` and reads at most
/// `q.limit` buckets' worth of minutes (capped at [`MAX_SOURCE_BARS`]); a bucket the read limit
/// cut in two is left out, unless it is the only one.
pub async fn read_bars(store: &dyn Store, tz: Tz, q: &BarQuery) -> Result<ServedBars, StoreError> {
    if is_stored(store, &q.vt_symbol, q.interval).await? {
        let bars = store.bars(q).await?.iter().map(|b| b.to_utc(tz)).collect();
        return Ok(ServedBars {
            bars,
            resampled_from: None,
        });
    }
    let wanted = i64::from(q.limit).saturating_mul(q.interval.minutes());
    let source = BarQuery {
        vt_symbol: q.vt_symbol.clone(),
        interval: Interval::Minute,
        start: q.start.map(|s| q.interval.bucket_start(s)),
        end: q.end,
        limit: u32::try_from(wanted.min(i64::from(MAX_SOURCE_BARS))).unwrap_or(MAX_SOURCE_BARS),
    };
    let rows = store.bars(&source).await?;
    let cut = rows.len() >= source.limit as usize;
    let mut bars = resample(
        rows.iter().map(|b| (b.datetime, b.to_utc(tz))),
        q.interval,
        tz,
    );
    let limit = q.limit as usize;
    if q.start.is_some() {
        // The first `limit` buckets from `start`; the read limit may have cut the last one.
        if bars.len() > limit {
            bars.truncate(limit);
        } else if cut && bars.len() > 1 {
            bars.pop();
        }
    } else if bars.len() > limit {
        // The latest `limit` buckets; the read limit may have cut the first one.
        bars.drain(..bars.len() - limit);
    } else if cut && bars.len() > 1 {
        bars.remove(0);
    }
    Ok(ServedBars {
        bars,
        resampled_from: Some(Interval::Minute),
    })
}

/// The current (latest) bucket of `interval` for `vt_symbol`, resampled from the 1-minute bars
/// since its start: the live bar of a resampled series. Two statements: the newest minute's
/// time (an index probe) and the bucket's minutes.
pub async fn current_bucket(
    store: &dyn Store,
    tz: Tz,
    vt_symbol: &VtSymbol,
    interval: Interval,
) -> Result<Option<Bar>, StoreError> {
    let Some(last) = store.last_bar_time(vt_symbol, Interval::Minute).await? else {
        return Ok(None);
    };
    let q = BarQuery {
        vt_symbol: vt_symbol.clone(),
        interval: Interval::Minute,
        start: Some(interval.bucket_start(last)),
        end: Some(last),
        limit: MAX_SOURCE_BARS,
    };
    let rows = store.bars(&q).await?;
    Ok(resample(
        rows.iter().map(|b| (b.datetime, b.to_utc(tz))),
        interval,
        tz,
    )
    .pop())
}
