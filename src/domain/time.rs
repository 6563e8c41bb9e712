//! Time parsing and formatting. The wire format is RFC 3339 in UTC with microseconds
//! (`2024-05-01T09:30:00.000000Z`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// Formats a UTC time the way every JSON response does.
pub fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The earliest time accepted from clients (every backend stores it the same way).
pub const MIN_TIME: DateTime<Utc> = match NaiveDate::from_ymd_opt(1000, 1, 1) {
    Some(d) => match d.and_hms_opt(0, 0, 0) {
        Some(t) => t.and_utc(),
        None => DateTime::<Utc>::MIN_UTC,
    },
    None => DateTime::<Utc>::MIN_UTC,
};

/// The latest time accepted from clients.
pub const MAX_TIME: DateTime<Utc> = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => match d.and_hms_micro_opt(23, 59, 59, 999_999) {
        Some(t) => t.and_utc(),
        None => DateTime::<Utc>::MAX_UTC,
    },
    None => DateTime::<Utc>::MAX_UTC,
};

/// Parses a client-supplied time: RFC 3339 with an offset, a naive `YYYY-MM-DDTHH:MM:SS[.f]`
/// (taken as UTC), or a bare date (midnight UTC), between years 1000 and 9999 (UTC). The error
/// text shows the accepted forms.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let t = parse_any_time(raw)?;
    if !(MIN_TIME..=MAX_TIME).contains(&t) {
        return Err(format!(
            "'{raw}' is out of range; times must fall in the years 1000 to 9999 (UTC)"
        ));
    }
    Ok(t)
}

fn parse_any_time(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Ok(t.and_utc());
        }
    }
    if let Some(t) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "'{raw}' is not a time; use RFC 3339 such as 2024-05-01T09:30:00Z"
    ))
}

/// A UTC time as a naive local time of `tz` (how VnPy stores bar times).
pub fn utc_to_local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// A naive local time of `tz` in UTC. A local time skipped by a DST change has no UTC instant;
/// it is read as if it were UTC.
pub fn local_to_utc(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&t)
        .earliest()
        .map_or_else(|| t.and_utc(), |l| l.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_micros() {
        let t = parse_time("2024-05-01T09:30:00.123456+08:00").unwrap();
        assert_eq!(fmt_time(&t), "2024-05-01T01:30:00.123456Z");
        assert_eq!(
            fmt_time(&parse_time("2024-05-01").unwrap()),
            "2024-05-01T00:00:00.000000Z"
        );
        assert!(parse_time("2024-05-01T09:30:00").is_ok());
        assert!(parse_time("yesterday").unwrap_err().contains("yesterday"));
        for out in [
            "-262143-01-01",
            "+10000-01-01",
            "0999-12-31T23:59:59Z",
            "-0001-01-01",
        ] {
            let err = parse_time(out).expect_err(out);
            assert!(
                err.contains("out of range") || err.contains("not a time"),
                "{out}: {err}"
            );
        }
        assert!(parse_time("9999-12-31T23:59:59Z").is_ok());
        assert!(parse_time("1000-01-01").is_ok());
    }

    #[test]
    fn shanghai_bar_times_round_trip() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let local =
            NaiveDateTime::parse_from_str("2024-05-01 09:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let utc = local_to_utc(tz, local);
        assert_eq!(fmt_time(&utc), "2024-05-01T01:30:00.000000Z");
        assert_eq!(utc_to_local(tz, utc), local);
    }
}
