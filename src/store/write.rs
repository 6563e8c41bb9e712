//! The writes (the demo writer's and the test writer's): upserts and idempotent inserts on the
//! seed columns, in each dialect's conflict syntax.

use super::{
    NewBar, NewEvent, NewSnapshot,
    dialect::{Dialect, Upsert},
    query::{Param, Sql, quoted},
};

/// `INSERT INTO table (cols) VALUES (..)` plus the conflict clause: update `update` when `key`
/// already exists, or, if `update` is empty, ignore a conflicting row (no conflict target).
fn insert(d: Dialect, table: &str, row: Vec<(&str, Param)>, key: &[&str], update: &[&str]) -> Sql {
    let ignore = update.is_empty() && d.upsert() == Upsert::OnDuplicateKey;
    let cols: Vec<&str> = row.iter().map(|(c, _)| *c).collect();
    let mut sql = Sql::new(
        d,
        format!(
            "INSERT {}INTO {table} ({}) VALUES (",
            if ignore { "IGNORE " } else { "" },
            cols.join(", ")
        ),
    );
    sql.list(row.into_iter().map(|(_, p)| p)).push(")");
    let set = |f: &dyn Fn(&str) -> String| update.iter().map(|c| f(c)).collect::<Vec<_>>();
    match d.upsert() {
        Upsert::OnDuplicateKey if !ignore => {
            let set = set(&|c| format!("{c} = VALUES({c})")).join(", ");
            sql.push(&format!(" ON DUPLICATE KEY UPDATE {set}"));
        }
        Upsert::OnDuplicateKey => {}
        // No conflict target: also works on PostgreSQL's partitioned event table, where the
        // key's uniqueness is enforced by a trigger, not a unique index (see `partition.rs`).
        Upsert::OnConflict if update.is_empty() => {
            sql.push(" ON CONFLICT DO NOTHING");
        }
        Upsert::OnConflict => {
            let set = set(&|c| format!("{c} = excluded.{c}")).join(", ");
            sql.push(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {set}",
                key.join(", ")
            ));
        }
    }
    sql
}

/// Upserts a snapshot's seed columns.
pub(crate) fn upsert_snapshot_sql(d: Dialect, s: &NewSnapshot) -> Sql {
    let row = vec![
        ("variant", Param::Str(s.variant.clone())),
        ("instance_id", Param::Str(s.instance_id.clone())),
        ("updated_at", Param::Time(s.updated_at)),
        ("bar_dt", Param::OptTime(s.bar_dt)),
        ("bar_interval", Param::OptStr(s.bar_interval.clone())),
        ("bar_window", Param::OptI32(s.bar_window)),
        ("payload_json", Param::Json(s.payload.clone())),
    ];
    let update = [
        "updated_at",
        "bar_dt",
        "bar_interval",
        "bar_window",
        "payload_json",
    ];
    insert(
        d,
        "monitor_signal_snapshot",
        row,
        &["variant", "instance_id"],
        &update,
    )
}

/// Inserts an event unless its `event_key` exists.
pub(crate) fn insert_event_sql(d: Dialect, e: &NewEvent) -> Sql {
    let row = vec![
        ("variant", Param::Str(e.variant.clone())),
        ("instance_id", Param::Str(e.instance_id.clone())),
        ("vt_symbol", Param::Str(e.vt_symbol.clone())),
        ("bar_dt", Param::OptTime(e.bar_dt)),
        ("event_type", Param::Str(e.event_type.clone())),
        ("event_key", Param::Str(e.event_key.clone())),
        ("created_at", Param::Time(e.created_at)),
        ("payload_json", Param::Json(e.payload.clone())),
    ];
    insert(d, "monitor_signal_event", row, &["event_key"], &[])
}

/// Upserts a VnPy bar.
pub(crate) fn upsert_bar_sql(d: Dialect, b: &NewBar) -> Sql {
    let (dt, interval) = (quoted(d, "datetime"), quoted(d, "interval"));
    let bar = &b.bar;
    let row = vec![
        ("symbol", Param::Str(b.vt_symbol.symbol().to_owned())),
        ("exchange", Param::Str(b.vt_symbol.exchange().to_owned())),
        (dt.as_str(), Param::Naive(bar.datetime)),
        (
            interval.as_str(),
            Param::Str(b.interval.as_str().to_owned()),
        ),
        ("volume", Param::F64(bar.volume)),
        ("turnover", Param::F64(bar.turnover)),
        ("open_interest", Param::F64(bar.open_interest)),
        ("open_price", Param::F64(bar.open)),
        ("high_price", Param::F64(bar.high)),
        ("low_price", Param::F64(bar.low)),
        ("close_price", Param::F64(bar.close)),
    ];
    let key = ["symbol", "exchange", interval.as_str(), dt.as_str()];
    let update: Vec<&str> = row[4..].iter().map(|(c, _)| *c).collect();
    insert(d, "dbbardata", row, &key, &update)
}

/// Records the highest pruned `seq` of a variant (see `retention.rs`).
pub(crate) fn upsert_pruned_sql(d: Dialect, variant: &str, upto: i64) -> Sql {
    let row = vec![
        ("variant", Param::Str(variant.to_owned())),
        ("pruned_upto", Param::I64(upto)),
    ];
    insert(
        d,
        "monitor_signal_pruned",
        row,
        &["variant"],
        &["pruned_upto"],
    )
}
