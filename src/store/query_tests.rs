//! Unit tests of the SQL builders: placeholders, bind order, conflict clauses, time clamping.

use chrono::NaiveDate;

use super::*;
use crate::domain::{EventType, VtSymbol};
use crate::store::{
    NewEvent, NewSnapshot,
    write::{insert_event_sql, upsert_snapshot_sql},
};

const MYSQL: Dialect = Dialect::MySql;
const POSTGRES: Dialect = Dialect::Postgres;

fn naive(y: i32, m: u32, d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

#[test]
fn event_sql_binds_in_order() {
    let mut q = EventQuery::after("v1", 7, 50);
    q.vt_symbols = vec![
        VtSymbol::parse("a.X").expect("symbol"),
        VtSymbol::parse("b.Y").expect("symbol"),
    ];
    q.event_type = Some(EventType::Signal);
    let sql = events_sql(POSTGRES, &q).expect("sql");
    assert!(
        sql.text
            .contains("variant = $1 AND seq > $2 AND vt_symbol IN ($3, $4)"),
        "{}",
        sql.text
    );
    assert!(
        sql.text.contains("event_type = $5 ORDER BY seq LIMIT $6"),
        "{}",
        sql.text
    );
    assert_eq!(sql.params.len(), 6);
    let sql = events_sql(MYSQL, &q).expect("sql");
    assert!(
        sql.text.contains(
            "variant = ? AND CAST(variant AS BINARY) = ? AND seq > ? \
             AND vt_symbol IN (?, ?) AND CAST(vt_symbol AS BINARY) IN (?, ?)"
        ),
        "{}",
        sql.text
    );
    assert_eq!(sql.params.len(), 10);
}

#[test]
fn inserts_use_the_dialects_conflict_clause() {
    let e = NewEvent {
        variant: "v".into(),
        instance_id: "i".into(),
        vt_symbol: "a.X".into(),
        bar_dt: None,
        event_type: "signal".into(),
        event_key: "k".into(),
        created_at: Utc::now(),
        payload: "{}".into(),
    };
    let my = insert_event_sql(MYSQL, &e);
    assert!(
        my.text
            .starts_with("INSERT IGNORE INTO monitor_signal_event (")
    );
    assert!(my.text.ends_with("VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    let pg = insert_event_sql(POSTGRES, &e);
    assert!(
        pg.text.ends_with("$7, $8::jsonb) ON CONFLICT DO NOTHING"),
        "{}",
        pg.text
    );
    assert_eq!(pg.params[7], Param::Json("{}".into()));
}

#[test]
fn upserts_update_everything_but_the_key() {
    let s = NewSnapshot {
        variant: "v".into(),
        instance_id: "i".into(),
        updated_at: Utc::now(),
        bar_dt: None,
        bar_interval: None,
        bar_window: Some(3),
        payload: "{}".into(),
    };
    let my = upsert_snapshot_sql(MYSQL, &s);
    assert!(
        my.text.ends_with(
            "ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), bar_dt = VALUES(bar_dt), \
             bar_interval = VALUES(bar_interval), bar_window = VALUES(bar_window), \
             payload_json = VALUES(payload_json)"
        ),
        "{}",
        my.text
    );
    let pg = upsert_snapshot_sql(POSTGRES, &s);
    assert!(
        pg.text.contains(
            "ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = excluded.updated_at,"
        ),
        "{}",
        pg.text
    );
}

#[test]
fn clamps_times_to_the_storable_range() {
    let (min, max) = storable();
    assert_eq!(clamp_range(None, None), Some((None, None)));
    // Beyond the range on the open side: clamped, so a bound still filters the same rows.
    assert_eq!(
        clamp_range(Some(naive(999, 1, 1)), Some(naive(10000, 1, 1))),
        Some((Some(min), Some(max)))
    );
    // Nothing storable can match.
    assert_eq!(clamp_range(Some(naive(10000, 1, 1)), None), None);
    assert_eq!(clamp_range(None, Some(naive(999, 12, 31))), None);
    let t = naive(2024, 5, 1);
    assert_eq!(clamp_range(Some(t), Some(t)), Some((Some(t), Some(t))));
}

#[test]
fn latest_bars_sql_is_one_statement_with_one_read_per_series() {
    let series = [
        BarSeries {
            vt_symbol: VtSymbol::parse("rb2405.SHFE").expect("symbol"),
            interval: Interval::Minute,
        },
        BarSeries {
            vt_symbol: VtSymbol::parse("IF2406.CFFEX").expect("symbol"),
            interval: Interval::Hour,
        },
    ];
    let sql = latest_bars_sql(POSTGRES, &series);
    assert_eq!(sql.text.matches(" UNION ALL ").count(), 1, "{}", sql.text);
    assert_eq!(
        sql.text.matches(" DESC LIMIT 1) b").count(),
        2,
        "{}",
        sql.text
    );
    assert!(
        sql.text.contains("SELECT '1' AS series_index"),
        "{}",
        sql.text
    );
    assert!(
        sql.text.contains("symbol = $4") && sql.text.contains("\"interval\" = $6"),
        "{}",
        sql.text
    );
    assert_eq!(sql.params.len(), 6);
    assert!(latest_bars_sql(MYSQL, &series).text.contains("`interval`"));
}
