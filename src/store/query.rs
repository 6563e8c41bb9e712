//! SQL text shared by the three backends: the statement builder and the reads. Statements
//! differ only in placeholders (`?` vs `$n`), identifier quoting, how JSON is read and how names
//! are compared, so they are built here once from a [`Dialect`]; the driver glue binds the
//! [`Param`]s in the dialect's time representation. Writes are in `write.rs`.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{BarQuery, BarSeries, EventQuery, dialect::Dialect};
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
    pub(super) fn new(dialect: Dialect, text: impl Into<String>) -> Self {
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

    pub(super) fn push(&mut self, text: &str) -> &mut Self {
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
    pub(super) fn list(&mut self, params: impl IntoIterator<Item = Param>) -> &mut Self {
        for (i, p) in params.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(p);
        }
        self
    }
}

/// `name` quoted as an identifier.
pub(super) fn quoted(d: Dialect, name: &str) -> String {
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

/// The latest bar of every series in one statement: a `UNION ALL` of one
/// `ORDER BY datetime DESC LIMIT 1` read per series, each answered by one backward probe of the
/// unique index `(symbol, exchange, interval, datetime)`. Column `series_index` says which
/// series a row belongs to (an integer literal, never user input).
pub(crate) fn latest_bars_sql(d: Dialect, series: &[BarSeries]) -> Sql {
    let dt = quoted(d, "datetime");
    let mut sql = Sql::new(d, "");
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(&format!(
            "SELECT * FROM (SELECT '{i}' AS series_index, {dt} AS bar_time, open_price, \
             high_price, low_price, close_price, volume, turnover, open_interest"
        ));
        bar_series(&mut sql, &s.vt_symbol, s.interval);
        sql.push(&format!(" ORDER BY {dt} DESC LIMIT 1) b{i}"));
    }
    sql
}

/// The newest bar time of a series, as column `t`.
pub(crate) fn last_bar_sql(d: Dialect, vt_symbol: &VtSymbol, interval: Interval) -> Sql {
    let mut sql = Sql::new(d, format!("SELECT MAX({}) AS t", quoted(d, "datetime")));
    bar_series(&mut sql, vt_symbol, interval);
    sql
}

/// The database's identity (migration 0004).
pub(crate) const DATABASE_ID: &str = "SELECT value FROM signalgate_meta WHERE name = 'database_id'";
pub(crate) const POLL_SEQS: &str = "SELECT variant, v FROM monitor_signal_seq";
/// Every snapshot row's version and whether it is pending (column `p`, 1 or 0).
pub(crate) fn poll_versions(d: Dialect) -> String {
    format!(
        "SELECT variant, instance_id, version, {} AS p FROM monitor_signal_snapshot",
        d.bigint(&format!("CASE WHEN {} THEN 1 ELSE 0 END", d.pending()))
    )
}
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
