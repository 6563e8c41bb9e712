//! Validated identifiers. Each `parse` returns a [`ParseError`] whose message names what is wrong,
//! so the HTTP and Socket.IO layers can forward it verbatim.

use std::fmt;

/// Longest variant / instance / symbol name, matching the `VARCHAR(64)` columns.
pub const MAX_NAME_LEN: usize = 64;

/// Why an identifier was rejected; `Display` is a human sentence without the parameter name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn check_name(kind: &str, raw: &str) -> Result<(), ParseError> {
    if raw.is_empty() {
        return Err(ParseError(format!("{kind} must not be empty")));
    }
    let len = raw.chars().count();
    if len > MAX_NAME_LEN {
        return Err(ParseError(format!(
            "{kind} is {len} characters long; the maximum is {MAX_NAME_LEN}"
        )));
    }
    if raw.chars().any(char::is_control) {
        return Err(ParseError(format!(
            "{kind} must not contain control characters"
        )));
    }
    Ok(())
}

/// What `check_name` accepts, as an ECMA-262 pattern for the OpenAPI document (no control
/// characters: `char::is_control` is the Unicode `Cc` category).
const NAME_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]+$";
/// A `vt_symbol` in a query string: a symbol, a dot, an exchange without dots; no commas (a
/// comma separates list items).
const VT_SYMBOL_PATTERN: &str =
    r"^[^,\u0000-\u001F\u007F-\u009F]+\.[^.,\u0000-\u001F\u007F-\u009F]+$";

/// The OpenAPI schema of a validated name (`parse` is the authority; this documents it).
fn name_schema(
    pattern: &str,
    description: String,
) -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// `Deserialize` through `parse`, so a bad value's error message is the parse error.
macro_rules! deserialize_by_parse {
    ($name:ident) => {
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `raw`: 1 to 64 characters, no control characters.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                check_name($kind, raw)?;
                Ok(Self(raw.to_owned()))
            }

            /// The validated name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        deserialize_by_parse!($name);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                name_schema(
                    NAME_PATTERN,
                    format!("A {}: 1 to {MAX_NAME_LEN} characters, no control characters", $kind),
                )
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

name_type!(
    /// A strategy variant name (`monitor_signal_*.variant`).
    Variant,
    "variant"
);
name_type!(
    /// A strategy instance id (`monitor_signal_*.instance_id`).
    InstanceId,
    "instance_id"
);

/// A VnPy `vt_symbol`: `symbol.exchange`, split at the last dot (`rb2405.SHFE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct VtSymbol(String);

impl VtSymbol {
    /// Validates `raw` and requires both a symbol and an exchange part.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        check_name("vt_symbol", raw)?;
        match raw.rsplit_once('.') {
            Some((sym, ex)) if !sym.is_empty() && !ex.is_empty() => Ok(Self(raw.to_owned())),
            _ => Err(ParseError(format!(
                "vt_symbol '{raw}' must be SYMBOL.EXCHANGE, e.g. rb2405.SHFE"
            ))),
        }
    }

    /// The full `symbol.exchange` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the last dot.
    pub fn symbol(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(s, _)| s)
    }

    /// The part after the last dot.
    pub fn exchange(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(_, e)| e)
    }
}

deserialize_by_parse!(VtSymbol);

impl utoipa::PartialSchema for VtSymbol {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        name_schema(
            VT_SYMBOL_PATTERN,
            "VnPy's `SYMBOL.EXCHANGE` (split at the last dot, e.g. `rb2405.SHFE`), at most \
             64 characters"
                .to_owned(),
        )
    }
}

impl utoipa::ToSchema for VtSymbol {}

impl fmt::Display for VtSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bar interval: VnPy's stored ones (`dbbardata.interval`: `1m`, `1h`, `d`, `w`) and the
/// ones served by resampling stored 1-minute bars (`5m`, `15m`, `30m`, `4h`; `1h`, `d` and `w`
/// too when the symbol has none of them stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
pub enum Interval {
    /// `1m`
    #[serde(rename = "1m")]
    Minute,
    /// `5m`
    #[serde(rename = "5m")]
    Minute5,
    /// `15m`
    #[serde(rename = "15m")]
    Minute15,
    /// `30m`
    #[serde(rename = "30m")]
    Minute30,
    /// `1h`
    #[serde(rename = "1h")]
    Hour,
    /// `4h`
    #[serde(rename = "4h")]
    Hour4,
    /// `d` (also accepted as `1d`): a local calendar day
    #[serde(rename = "d")]
    Daily,
    /// `w`: an ISO week (Monday to Sunday, local time)
    #[serde(rename = "w")]
    Weekly,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 8] = [
        Self::Minute,
        Self::Minute5,
        Self::Minute15,
        Self::Minute30,
        Self::Hour,
        Self::Hour4,
        Self::Daily,
        Self::Weekly,
    ];

    /// Accepts `1m`, `5m`, `15m`, `30m`, `1h`, `4h`, `d` (or `1d`) and `w`.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if raw == "1d" {
            return Ok(Self::Daily);
        }
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == raw)
            .ok_or_else(|| {
                ParseError(format!(
                    "unknown interval '{raw}'; expected one of 1m, 5m, 15m, 30m, 1h, 4h, d (or 1d), w"
                ))
            })
    }

    /// Its name, as stored in `dbbardata.interval` for VnPy's intervals.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "1m",
            Self::Minute5 => "5m",
            Self::Minute15 => "15m",
            Self::Minute30 => "30m",
            Self::Hour => "1h",
            Self::Hour4 => "4h",
            Self::Daily => "d",
            Self::Weekly => "w",
        }
    }

    /// Whether VnPy stores bars of this interval (otherwise they are always resampled).
    pub fn is_stored_kind(self) -> bool {
        matches!(self, Self::Minute | Self::Hour | Self::Daily | Self::Weekly)
    }

    /// Its length in minutes (a day and a week as 24 h and 7 days).
    pub fn minutes(self) -> i64 {
        match self {
            Self::Minute => 1,
            Self::Minute5 => 5,
            Self::Minute15 => 15,
            Self::Minute30 => 30,
            Self::Hour => 60,
            Self::Hour4 => 240,
            Self::Daily => 1440,
            Self::Weekly => 10_080,
        }
    }

    /// The start of the bucket holding local time `t`: a multiple of the interval from local
    /// midnight, the local day, or the ISO week's Monday.
    pub fn bucket_start(self, t: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        use chrono::{Datelike, Duration, Timelike};
        let day = t.date();
        match self {
            Self::Daily => day.and_time(chrono::NaiveTime::MIN),
            Self::Weekly => (day - Duration::days(i64::from(day.weekday().num_days_from_monday())))
                .and_time(chrono::NaiveTime::MIN),
            _ => {
                let since_midnight = i64::from(t.hour()) * 60 + i64::from(t.minute());
                let n = self.minutes();
                day.and_time(chrono::NaiveTime::MIN) + Duration::minutes(since_midnight / n * n)
            }
        }
    }
}

deserialize_by_parse!(Interval);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_rules() {
        assert!(Variant::parse("trend_v1").is_ok());
        assert!(Variant::parse("").is_err());
        assert!(Variant::parse(&"x".repeat(65)).is_err());
        assert!(Variant::parse(&"é".repeat(64)).is_ok());
        let err = Variant::parse("a\u{7}b").unwrap_err();
        assert!(err.0.contains("control"), "{err}");
    }

    #[test]
    fn vt_symbol_splits_at_last_dot() {
        let s = VtSymbol::parse("IF2406.CFFEX").unwrap();
        assert_eq!((s.symbol(), s.exchange()), ("IF2406", "CFFEX"));
        let s = VtSymbol::parse("a.b.SSE").unwrap();
        assert_eq!((s.symbol(), s.exchange()), ("a.b", "SSE"));
        for bad in ["rb2405", "rb2405.", ".SHFE", ""] {
            assert!(VtSymbol::parse(bad).is_err(), "{bad}");
        }
    }

    /// Whether `value` matches `T`'s OpenAPI schema.
    fn schema_accepts<T: utoipa::PartialSchema>(value: &str) -> bool {
        let schema = serde_json::to_value(T::schema()).unwrap();
        jsonschema::is_valid(&schema, &serde_json::json!(value))
    }

    #[test]
    fn schemas_agree_with_parse() {
        let names = [
            "trend_v1",
            "",
            &"x".repeat(65),
            &"é".repeat(64),
            "a\u{7}b",
            "a\u{85}b",
        ];
        for raw in names.iter().chain(&["a b", "a/b", "\u{7f}"]) {
            assert_eq!(
                schema_accepts::<Variant>(raw),
                Variant::parse(raw).is_ok(),
                "{raw:?}"
            );
            assert_eq!(
                schema_accepts::<InstanceId>(raw),
                InstanceId::parse(raw).is_ok(),
                "{raw:?}"
            );
        }
        let symbols = [
            "IF2406.CFFEX",
            "a.b.SSE",
            "a..B",
            "rb2405",
            "rb2405.",
            ".SHFE",
            "",
        ];
        for raw in symbols
            .iter()
            .chain(&[&*format!("{}.X", "s".repeat(62)), "a\u{1}.X"])
        {
            assert_eq!(
                schema_accepts::<VtSymbol>(raw),
                VtSymbol::parse(raw).is_ok(),
                "{raw:?}"
            );
        }
        // A comma separates list items in a query string: never part of one symbol.
        assert!(!schema_accepts::<VtSymbol>("a,b.X"));
    }

    #[test]
    fn intervals() {
        for ok in ["1m", "5m", "15m", "30m", "1h", "4h", "d", "w"] {
            assert_eq!(Interval::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(Interval::parse("1d").unwrap(), Interval::Daily);
        assert!(Interval::parse("2m").unwrap_err().0.contains("2m"));
    }
}
