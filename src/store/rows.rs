//! Row decoding shared by the store's reads: required and optional columns, snapshots,
//! events, bars, and the variant summaries of `/api/variants`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    StoredBar,
    backend::{Backend, RowOf},
};
use crate::domain::{Event, Snapshot, VariantSummary, parse_payload};

/// Reads a required UTC time column.
pub(super) fn time<B: Backend>(row: &RowOf<B>, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    B::opt_time(row, col)?.ok_or_else(|| null_in(col))
}

pub(super) fn null_in(col: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: "unexpected NULL".into(),
    }
}

pub(super) fn variant_instance<B: Backend>(
    row: &RowOf<B>,
) -> Result<(String, String), sqlx::Error> {
    Ok((B::text(row, "variant")?, B::text(row, "instance_id")?))
}

pub(super) fn snapshot_from_row<B: Backend>(row: &RowOf<B>) -> Result<Snapshot, sqlx::Error> {
    let (variant, instance_id) = variant_instance::<B>(row)?;
    let what = format!("monitor_signal_snapshot {variant}/{instance_id}");
    Ok(Snapshot {
        version: B::int(row, "version")?,
        updated_at: time::<B>(row, "updated_at")?,
        bar_dt: B::opt_time(row, "bar_dt")?,
        bar_interval: B::opt_text(row, "bar_interval")?,
        bar_window: B::opt_int(row, "bar_window")?,
        payload: parse_payload(B::text(row, "payload")?, &what),
        variant,
        instance_id,
    })
}

pub(super) fn event_from_row<B: Backend>(row: &RowOf<B>) -> Result<Event, sqlx::Error> {
    let id = B::int(row, "id")?;
    Ok(Event {
        id,
        seq: B::int(row, "seq")?,
        variant: B::text(row, "variant")?,
        instance_id: B::text(row, "instance_id")?,
        vt_symbol: B::text(row, "vt_symbol")?,
        bar_dt: B::opt_time(row, "bar_dt")?,
        event_type: B::text(row, "event_type")?,
        event_key: B::text(row, "event_key")?,
        created_at: time::<B>(row, "created_at")?,
        payload: parse_payload(
            B::text(row, "payload")?,
            &format!("monitor_signal_event id={id}"),
        ),
    })
}

pub(super) fn bar_from_row<B: Backend>(row: &RowOf<B>) -> Result<StoredBar, sqlx::Error> {
    let float = |col| B::float(row, col);
    Ok(StoredBar {
        datetime: B::opt_naive(row, "bar_time", B::DIALECT)?.ok_or_else(|| null_in("bar_time"))?,
        open: float("open_price")?,
        high: float("high_price")?,
        low: float("low_price")?,
        close: float("close_price")?,
        volume: float("volume")?,
        turnover: float("turnover")?,
        open_interest: float("open_interest")?,
    })
}

/// The `series_index` column of a [`query::latest_bars_sql`] row.
pub(super) fn series_index<B: Backend>(row: &RowOf<B>) -> Result<usize, sqlx::Error> {
    B::text(row, "series_index")?
        .parse()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "series_index".to_owned(),
            source: Box::new(e),
        })
}

/// Groups `(variant, instance_id, updated_at)` rows plus event-only variants into summaries.
pub(super) fn summarise(
    rows: Vec<(String, String, DateTime<Utc>)>,
    event_variants: Vec<String>,
) -> Vec<VariantSummary> {
    let mut map: BTreeMap<String, (Vec<String>, Option<DateTime<Utc>>)> = BTreeMap::new();
    for (variant, instance, updated) in rows {
        let entry = map.entry(variant).or_default();
        entry.0.push(instance);
        entry.1 = entry.1.max(Some(updated));
    }
    for variant in event_variants {
        map.entry(variant).or_default();
    }
    map.into_iter()
        .map(|(variant, (mut instances, updated))| {
            instances.sort();
            VariantSummary {
                variant,
                instances,
                updated_at: updated.as_ref().map(crate::domain::fmt_time),
            }
        })
        .collect()
}
