//! Durations in flags and in the TOML file, as humantime text: `90d`, `24h`, `30m`, `1h 30m`.
//! [`parse_duration`] is the flags' value parser; [`humantime_serde`] the TOML file's
//! (`#[serde(with = "humantime_serde")]`, or `humantime_serde::option` for an optional one).

use std::time::Duration;

/// A human duration: `90d`, `24h`, `30m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 24h or 90d: {e}"))
}

/// A `Duration` as a humantime string in the TOML file (and in the merged settings the overlay
/// works on).
pub mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// `Duration` → `"1h 30m"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// `"1h 30m"` → `Duration`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse(&String::deserialize(d)?)
    }

    fn parse<E: serde::de::Error>(text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text).map_err(E::custom)
    }

    /// An `Option<Duration>`: absent or null is `None`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        /// `None` → null, `Some(d)` as [`super::serialize`].
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        /// null → `None`, a string as [`super::deserialize`].
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::parse(&text))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Both {
        #[serde(with = "humantime_serde")]
        every: Duration,
        #[serde(default, with = "humantime_serde::option")]
        after: Option<Duration>,
    }

    #[test]
    fn round_trips_through_text() {
        let both = Both {
            every: Duration::from_secs(90 * 60),
            after: Some(Duration::from_secs(7 * 86_400)),
        };
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"every": "1h 30m", "after": "7days"})
        );
        assert_eq!(serde_json::from_value::<Both>(json).unwrap(), both);
        let none: Both = serde_json::from_value(serde_json::json!({"every": "10s"})).unwrap();
        assert_eq!(none.after, None);
        assert!(serde_json::from_value::<Both>(serde_json::json!({"every": "soon"})).is_err());
        assert!(parse_duration("24h").is_ok());
        assert!(parse_duration("a day").unwrap_err().contains("like 24h"));
    }
}
