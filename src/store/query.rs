//! SQL shared by the three backends. The statements differ only in placeholders (`?` vs `$n`),
//! identifier quoting and how the payload column is read as text, so they are built here once
//! from a [`Dialect`]; each backend binds the [`Param`]s with its own time representation.

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{BarQuery, BarSeries, EventQuery, StoredBar};
use crate::domain::{Event, Snapshot, parse_payload};

/// How a backend spells things.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// `$1, $2, ..` (PostgreSQL) instead of `?`.
    pub dollar: bool,
    /// Identifier quote character for VnPy's reserved-word columns (`interval`, `datetime`).
    pub quote: char,
    /// Expression that reads `payload_json` as text.
    pub payload: &'static str,
}

pub(crate) const MYSQL: Dialect = Dialect {
    dollar: false,
    quote: '`',
    payload: "CAST(payload_json AS CHAR)",
};
pub(crate) const POSTGRES: Dialect = Dialect {
    dollar: true,
    quote: '"',
    payload: "payload_json::text",
};
pub(crate) const SQLITE: Dialect = Dialect {
    dollar: false,
    quote: '"',
    payload: "CAST(payload_json AS TEXT)",
};

/// A bind parameter; backends convert times to their own column type.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Str(String),
    I64(i64),
    Time(DateTime<Utc>),
    Naive(NaiveDateTime),
}

/// A statement with its parameters in order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    fn bind(&mut self, d: Dialect, p: Param) -> String {
        self.params.push(p);
        if d.dollar {
            format!("${}", self.params.len())
        } else {
            "?".to_owned()
        }
    }
}

pub(crate) fn snapshot_select(d: Dialect) -> String {
    format!(
        "SELECT variant, instance_id, version, updated_at, bar_dt, bar_interval, bar_window, \
         {} AS payload FROM monitor_signal_snapshot",
        d.payload
    )
}

pub(crate) fn snapshots_sql(d: Dialect, variant: Option<&str>) -> Sql {
    let mut sql = Sql::default();
    let mut text = snapshot_select(d);
    if let Some(v) = variant {
        let p = sql.bind(d, Param::Str(v.to_owned()));
        text.push_str(&format!(" WHERE variant = {p}"));
    }
    text.push_str(" ORDER BY variant, instance_id");
    sql.text = text;
    sql
}

pub(crate) fn events_sql(d: Dialect, q: &EventQuery) -> Sql {
    let mut sql = Sql::default();
    let mut text = format!(
        "SELECT id, seq, variant, instance_id, vt_symbol, bar_dt, event_type, event_key, \
         created_at, {} AS payload FROM monitor_signal_event WHERE variant = ",
        d.payload
    );
    text += &sql.bind(d, Param::Str(q.variant.clone()));
    text += " AND seq > ";
    text += &sql.bind(d, Param::I64(q.after_seq));
    if !q.vt_symbols.is_empty() {
        let marks: Vec<String> = q
            .vt_symbols
            .iter()
            .map(|s| sql.bind(d, Param::Str(s.as_str().to_owned())))
            .collect();
        text += &format!(" AND vt_symbol IN ({})", marks.join(", "));
    }
    if let Some(t) = q.event_type {
        text += " AND event_type = ";
        text += &sql.bind(d, Param::Str(t.as_str().to_owned()));
    }
    let col = q.time_field.column();
    if let Some(start) = q.start {
        text += &format!(" AND {col} >= {}", sql.bind(d, Param::Time(start)));
    }
    if let Some(end) = q.end {
        text += &format!(" AND {col} <= {}", sql.bind(d, Param::Time(end)));
    }
    text += " ORDER BY seq LIMIT ";
    text += &sql.bind(d, Param::I64(i64::from(q.limit)));
    sql.text = text;
    sql
}

/// Bars ascending from `start`, or (without `start`) the latest `limit` bars descending, which
/// the caller reverses.
pub(crate) fn bars_sql(d: Dialect, q: &BarQuery) -> Sql {
    let qt = |name: &str| format!("{0}{name}{0}", d.quote);
    let mut sql = Sql::default();
    let mut text = format!(
        "SELECT {dt} AS bar_time, open_price, high_price, low_price, close_price, volume, turnover, \
         open_interest FROM dbbardata WHERE symbol = ",
        dt = qt("datetime")
    );
    text += &sql.bind(d, Param::Str(q.vt_symbol.symbol().to_owned()));
    text += " AND exchange = ";
    text += &sql.bind(d, Param::Str(q.vt_symbol.exchange().to_owned()));
    text += &format!(" AND {} = ", qt("interval"));
    text += &sql.bind(d, Param::Str(q.interval.as_str().to_owned()));
    if let Some(start) = q.start {
        text += &format!(
            " AND {} >= {}",
            qt("datetime"),
            sql.bind(d, Param::Naive(start))
        );
    }
    if let Some(end) = q.end {
        text += &format!(
            " AND {} <= {}",
            qt("datetime"),
            sql.bind(d, Param::Naive(end))
        );
    }
    let order = if q.start.is_some() { "ASC" } else { "DESC" };
    text += &format!(" ORDER BY {} {order} LIMIT ", qt("datetime"));
    text += &sql.bind(d, Param::I64(i64::from(q.limit)));
    sql.text = text;
    sql
}

/// The latest bar of every series in one statement: a `UNION ALL` of one
/// `ORDER BY datetime DESC LIMIT 1` read per series, each answered from the unique index
/// `(symbol, exchange, interval, datetime)` by one backward probe. `series_index` says which
/// series a row belongs to (an integer literal, never user input).
pub(crate) fn latest_bars_sql(d: Dialect, series: &[BarSeries]) -> Sql {
    let qt = |name: &str| format!("{0}{name}{0}", d.quote);
    let mut sql = Sql::default();
    let mut parts = Vec::with_capacity(series.len());
    for (i, s) in series.iter().enumerate() {
        let symbol = sql.bind(d, Param::Str(s.vt_symbol.symbol().to_owned()));
        let exchange = sql.bind(d, Param::Str(s.vt_symbol.exchange().to_owned()));
        let interval = sql.bind(d, Param::Str(s.interval.as_str().to_owned()));
        parts.push(format!(
            "SELECT * FROM (SELECT '{i}' AS series_index, {dt} AS bar_time, open_price, high_price, \
             low_price, close_price, volume, turnover, open_interest FROM dbbardata \
             WHERE symbol = {symbol} AND exchange = {exchange} AND {iv} = {interval} \
             ORDER BY {dt} DESC LIMIT 1) b{i}",
            dt = qt("datetime"),
            iv = qt("interval"),
        ));
    }
    sql.text = parts.join(" UNION ALL ");
    sql
}

/// Decodes time columns; each backend stores them differently.
pub(crate) trait TimeCodec<R: Row> {
    fn time(row: &R, col: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    fn opt_time(row: &R, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
}

pub(crate) fn snapshot_from_row<R, C>(row: &R) -> Result<Snapshot, sqlx::Error>
where
    R: Row,
    C: TimeCodec<R>,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i32>: Decode<'r, R::Database> + Type<R::Database>,
{
    let variant: String = row.try_get("variant")?;
    let instance_id: String = row.try_get("instance_id")?;
    let what = format!("monitor_signal_snapshot {variant}/{instance_id}");
    Ok(Snapshot {
        version: row.try_get("version")?,
        updated_at: C::time(row, "updated_at")?,
        bar_dt: C::opt_time(row, "bar_dt")?,
        bar_interval: row.try_get("bar_interval")?,
        bar_window: row.try_get("bar_window")?,
        payload: parse_payload(row.try_get("payload")?, &what),
        variant,
        instance_id,
    })
}

pub(crate) fn event_from_row<R, C>(row: &R) -> Result<Event, sqlx::Error>
where
    R: Row,
    C: TimeCodec<R>,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: i64 = row.try_get("id")?;
    Ok(Event {
        id,
        seq: row.try_get("seq")?,
        variant: row.try_get("variant")?,
        instance_id: row.try_get("instance_id")?,
        vt_symbol: row.try_get("vt_symbol")?,
        bar_dt: C::opt_time(row, "bar_dt")?,
        event_type: row.try_get("event_type")?,
        event_key: row.try_get("event_key")?,
        created_at: C::time(row, "created_at")?,
        payload: parse_payload(
            row.try_get("payload")?,
            &format!("monitor_signal_event id={id}"),
        ),
    })
}

pub(crate) fn bar_from_row<R>(row: &R, datetime: NaiveDateTime) -> Result<StoredBar, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(StoredBar {
        datetime,
        open: row.try_get("open_price")?,
        high: row.try_get("high_price")?,
        low: row.try_get("low_price")?,
        close: row.try_get("close_price")?,
        volume: row.try_get("volume")?,
        turnover: row.try_get("turnover")?,
        open_interest: row.try_get("open_interest")?,
    })
}

/// The `series_index` column of a [`latest_bars_sql`] row.
pub(crate) fn series_index<R>(row: &R) -> Result<usize, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let raw: String = row.try_get("series_index")?;
    raw.parse().map_err(|e| sqlx::Error::ColumnDecode {
        index: "series_index".to_owned(),
        source: Box::new(e),
    })
}

pub(crate) const POLL_SEQS: &str = "SELECT variant, v FROM monitor_signal_seq";
pub(crate) const POLL_VERSIONS: &str =
    "SELECT variant, instance_id, version FROM monitor_signal_snapshot";
pub(crate) const VARIANT_ROWS: &str =
    "SELECT variant, instance_id, updated_at FROM monitor_signal_snapshot";
pub(crate) const SEQ_VARIANTS: &str = "SELECT variant FROM monitor_signal_seq";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventType, VtSymbol};

    #[test]
    fn event_sql_binds_in_order() {
        let mut q = EventQuery::after("v1", 7, 50);
        q.vt_symbols = vec![
            VtSymbol::parse("a.X").unwrap(),
            VtSymbol::parse("b.Y").unwrap(),
        ];
        q.event_type = Some(EventType::Signal);
        let sql = events_sql(POSTGRES, &q);
        assert!(
            sql.text
                .contains("variant = $1 AND seq > $2 AND vt_symbol IN ($3, $4)")
        );
        assert!(
            sql.text.contains("event_type = $5 ORDER BY seq LIMIT $6"),
            "{}",
            sql.text
        );
        assert_eq!(sql.params.len(), 6);
        let sql = events_sql(MYSQL, &q);
        assert!(sql.text.contains("vt_symbol IN (?, ?)"));
    }

    #[test]
    fn latest_bars_sql_is_one_statement_with_one_read_per_series() {
        let series = [
            BarSeries {
                vt_symbol: VtSymbol::parse("rb2405.SHFE").unwrap(),
                interval: crate::domain::Interval::Minute,
            },
            BarSeries {
                vt_symbol: VtSymbol::parse("IF2406.CFFEX").unwrap(),
                interval: crate::domain::Interval::Hour,
            },
        ];
        let sql = latest_bars_sql(POSTGRES, &series);
        assert_eq!(sql.text.matches(" UNION ALL ").count(), 1);
        assert!(
            sql.text.contains("SELECT '1' AS series_index"),
            "{}",
            sql.text
        );
        assert!(
            sql.text
                .contains("symbol = $4 AND exchange = $5 AND \"interval\" = $6"),
            "{}",
            sql.text
        );
        assert_eq!(sql.params.len(), 6);
        assert!(
            latest_bars_sql(MYSQL, &series)
                .text
                .contains("`interval` = ?")
        );
    }
}
