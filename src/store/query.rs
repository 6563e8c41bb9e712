//! SQL text shared by the three backends. The statements differ only in placeholders (`?` vs
//! `$n`), identifier quoting, how JSON is read and written and the upsert syntax, so they are
//! built here once from a [`Dialect`]; each backend binds the [`Param`]s with its own time
//! representation.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{
    BarQuery, EventQuery, NewBar, NewEvent, NewSnapshot,
    dialect::{Dialect, Upsert},
};
use crate::domain::{Interval, VtSymbol};

/// A bind parameter; backends convert times to their own column type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Str(String),
    OptStr(Option<String>),
    /// JSON text for a JSON column.
    Json(String),
    I64(i64),
    OptI32(Option<i32>),
    F64(f64),
    /// A UTC instant (signal tables).
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    /// A naive time in the bars' zone (VnPy's tables).
    Naive(NaiveDateTime),
}

/// A statement with its parameters in order.
#[derive(Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
    dialect: Dialect,
}

impl Sql {
    fn new(dialect: Dialect, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            params: Vec::new(),
            dialect,
        }
    }

    /// Appends a placeholder for `p`.
    fn bind(&mut self, p: Param) -> &mut Self {
        let cast = if matches!(p, Param::Json(_)) {
            self.dialect.json_cast()
        } else {
            ""
        };
        self.params.push(p);
        if self.dialect.dollar() {
            self.text += &format!("${}{cast}", self.params.len());
        } else {
            self.text += "?";
        }
        self
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text += text;
        self
    }

    /// ` AND <col> = <value>`, byte for byte on every backend.
    fn and_eq(&mut self, col: &str, value: &str) -> &mut Self {
        self.and_in(col, std::slice::from_ref(&value))
    }

    /// ` AND <col> IN (<values>)`, byte for byte on every backend. MySQL's default collations
    /// ignore case and trailing spaces, so there the indexed comparison is followed by a binary
    /// one: the index still narrows the rows, the binary test keeps only exact matches.
    fn and_in(&mut self, col: &str, values: &[&str]) -> &mut Self {
        self.push(&format!(" AND {col}")).one_of(values);
        if self.dialect.binary_compare() {
            self.push(&format!(" AND CAST({col} AS BINARY)"))
                .one_of(values);
        }
        self
    }

    /// ` = <p>` or ` IN (<p>, ..)`.
    fn one_of(&mut self, values: &[&str]) -> &mut Self {
        let params = values.iter().map(|v| Param::Str((*v).to_owned()));
        match values.len() {
            1 => self.push(" = ").list(params),
            _ => self.push(" IN (").list(params).push(")"),
        }
    }

    /// `<p>, <p>, ..` separated by commas.
    fn list(&mut self, params: impl IntoIterator<Item = Param>) -> &mut Self {
        for (i, p) in params.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(p);
        }
        self
    }
}

fn quoted(d: Dialect, name: &str) -> String {
    format!("{0}{name}{0}", d.quote())
}

/// The oldest and newest instants every backend can store and compare the same way: MySQL's
/// `DATETIME` range; SQLite's text times only sort correctly with four-digit years.
fn storable() -> (NaiveDateTime, NaiveDateTime) {
    let min = NaiveDateTime::parse_from_str("1000-01-01 00:00:00", "%Y-%m-%d %H:%M:%S");
    let max = NaiveDateTime::parse_from_str("9999-12-31 23:59:59.999999", "%Y-%m-%d %H:%M:%S%.f");
    (
        min.unwrap_or(NaiveDateTime::MIN),
        max.unwrap_or(NaiveDateTime::MAX),
    )
}

/// Brings an inclusive range into the storable range so every backend answers alike: `None` if
/// no storable time can match, otherwise the bounds clamped.
pub(crate) fn clamp_range(
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
) -> Option<(Option<NaiveDateTime>, Option<NaiveDateTime>)> {
    let (min, max) = storable();
    if start.is_some_and(|s| s > max) || end.is_some_and(|e| e < min) {
        return None;
    }
    Some((start.map(|s| s.max(min)), end.map(|e| e.min(max))))
}

pub(crate) fn snapshots_sql(d: Dialect, variant: Option<&str>) -> Sql {
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT variant, instance_id, version, updated_at, bar_dt, bar_interval, bar_window, \
             {} AS payload FROM monitor_signal_snapshot WHERE 1 = 1",
            d.payload()
        ),
    );
    if let Some(v) = variant {
        sql.and_eq("variant", v);
    }
    sql.push(" ORDER BY variant, instance_id");
    sql
}

/// The events query, or `None` when the time bounds exclude every storable time.
pub(crate) fn events_sql(d: Dialect, q: &EventQuery) -> Option<Sql> {
    let naive = |t: Option<DateTime<Utc>>| t.map(|t| t.naive_utc());
    let (start, end) = clamp_range(naive(q.start), naive(q.end))?;
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT id, seq, variant, instance_id, vt_symbol, bar_dt, event_type, event_key, \
             created_at, {} AS payload FROM monitor_signal_event WHERE 1 = 1",
            d.payload()
        ),
    );
    sql.and_eq("variant", &q.variant)
        .push(" AND seq > ")
        .bind(Param::I64(q.after_seq));
    if !q.vt_symbols.is_empty() {
        let symbols: Vec<&str> = q.vt_symbols.iter().map(|s| s.as_str()).collect();
        sql.and_in("vt_symbol", &symbols);
    }
    if let Some(t) = q.event_type {
        sql.and_eq("event_type", t.as_str());
    }
    let col = q.time_field.column();
    if let Some(start) = start {
        sql.push(&format!(" AND {col} >= "))
            .bind(Param::Time(start.and_utc()));
    }
    if let Some(end) = end {
        sql.push(&format!(" AND {col} <= "))
            .bind(Param::Time(end.and_utc()));
    }
    sql.push(" ORDER BY seq LIMIT ")
        .bind(Param::I64(i64::from(q.limit)));
    Some(sql)
}

/// `FROM dbbardata WHERE` one series.
fn bar_series(sql: &mut Sql, vt_symbol: &VtSymbol, interval: Interval) {
    let d = sql.dialect;
    sql.push(" FROM dbbardata WHERE 1 = 1")
        .and_eq("symbol", vt_symbol.symbol())
        .and_eq("exchange", vt_symbol.exchange())
        .and_eq(&quoted(d, "interval"), interval.as_str());
}

/// Bars ascending from `start`, or (without `start`) the latest `limit` bars descending, which
/// the caller reverses. `None` when the time bounds exclude every storable time.
pub(crate) fn bars_sql(d: Dialect, q: &BarQuery) -> Option<Sql> {
    let (start, end) = clamp_range(q.start, q.end)?;
    let dt = quoted(d, "datetime");
    let mut sql = Sql::new(
        d,
        format!(
            "SELECT {dt} AS bar_time, open_price, high_price, low_price, close_price, volume, \
             turnover, open_interest"
        ),
    );
    bar_series(&mut sql, &q.vt_symbol, q.interval);
    if let Some(start) = start {
        sql.push(&format!(" AND {dt} >= "))
            .bind(Param::Naive(start));
    }
    if let Some(end) = end {
        sql.push(&format!(" AND {dt} <= ")).bind(Param::Naive(end));
    }
    let order = if start.is_some() { "ASC" } else { "DESC" };
    sql.push(&format!(" ORDER BY {dt} {order} LIMIT "))
        .bind(Param::I64(i64::from(q.limit)));
    Some(sql)
}

/// The newest bar time of a series, as column `t`.
pub(crate) fn last_bar_sql(d: Dialect, vt_symbol: &VtSymbol, interval: Interval) -> Sql {
    let mut sql = Sql::new(d, format!("SELECT MAX({}) AS t", quoted(d, "datetime")));
    bar_series(&mut sql, vt_symbol, interval);
    sql
}

/// `INSERT INTO table (cols) VALUES (..)` plus the conflict clause: update `update` (or, if
/// empty, ignore the row) when `key` already exists.
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
        Upsert::OnConflict if update.is_empty() => {
            sql.push(&format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")));
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

pub(crate) const POLL_SEQS: &str = "SELECT variant, v FROM monitor_signal_seq";
pub(crate) const POLL_VERSIONS: &str =
    "SELECT variant, instance_id, version FROM monitor_signal_snapshot";
pub(crate) const VARIANT_ROWS: &str =
    "SELECT variant, instance_id, updated_at FROM monitor_signal_snapshot";
pub(crate) const SEQ_VARIANTS: &str = "SELECT variant FROM monitor_signal_seq";
/// Readiness: cheap (the planner sees `1 = 0`) but fails unless every signal table exists.
pub(crate) const PING: &str = "SELECT 1 FROM monitor_signal_snapshot WHERE 1 = 0 \
     UNION ALL SELECT 1 FROM monitor_signal_event WHERE 1 = 0 \
     UNION ALL SELECT 1 FROM monitor_signal_seq WHERE 1 = 0";

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
