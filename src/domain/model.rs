//! The JSON shapes served over REST and pushed over Socket.IO. One definition, so both paths
//! always agree.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::value::RawValue;

use super::time::fmt_time;

/// The payload column as read from the database: valid JSON is passed through untouched (no
/// re-serialisation); anything else (possible on SQLite) is kept as raw text and served under
/// `payload_raw`, with `payload: null`.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Valid JSON text.
    Json(Box<RawValue>),
    /// Text that did not parse as JSON.
    Invalid(String),
}

/// Turns the stored text into a [`Payload`]; text that is not JSON is kept and logged.
pub fn parse_payload(text: String, what: &str) -> Payload {
    match serde_json::from_str::<Box<RawValue>>(&text) {
        Ok(raw) => Payload::Json(raw),
        Err(err) => {
            tracing::error!(row = what, error = %err, "payload_json is not valid JSON; serving it as payload_raw");
            Payload::Invalid(text)
        }
    }
}

impl Payload {
    fn write<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Payload::Json(raw) => map.serialize_entry("payload", raw),
            Payload::Invalid(text) => {
                map.serialize_entry("payload", &())?;
                map.serialize_entry("payload_raw", text)
            }
        }
    }
}

fn opt_time(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(fmt_time)
}

/// The latest state of one strategy instance (`monitor_signal_snapshot` row).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Strategy variant.
    pub variant: String,
    /// Instance within the variant.
    pub instance_id: String,
    /// Row version, incremented by the database on every update.
    pub version: i64,
    /// When the writer last updated the row (UTC).
    pub updated_at: DateTime<Utc>,
    /// Bar the state was computed on.
    pub bar_dt: Option<DateTime<Utc>>,
    /// Bar interval, e.g. `1m`.
    pub bar_interval: Option<String>,
    /// Bar window, e.g. 1 for 1-minute bars.
    pub bar_window: Option<i32>,
    /// `payload_json`.
    pub payload: Payload,
}

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("variant", &self.variant)?;
        m.serialize_entry("instance_id", &self.instance_id)?;
        m.serialize_entry("version", &self.version)?;
        m.serialize_entry("updated_at", &fmt_time(&self.updated_at))?;
        m.serialize_entry("bar_dt", &opt_time(&self.bar_dt))?;
        m.serialize_entry("bar_interval", &self.bar_interval)?;
        m.serialize_entry("bar_window", &self.bar_window)?;
        self.payload.write(&mut m)?;
        m.end()
    }
}

/// The kinds of event the design names; other values in the column are served as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventType {
    /// A trading signal.
    Signal,
    /// A state machine transition.
    StateChange,
    /// An alert.
    Alert,
    /// An order.
    Order,
}

impl EventType {
    /// Parses the `type` filter.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "signal" => Ok(Self::Signal),
            "state_change" => Ok(Self::StateChange),
            "alert" => Ok(Self::Alert),
            "order" => Ok(Self::Order),
            _ => Err(format!(
                "unknown event type '{raw}'; expected signal, state_change, alert or order"
            )),
        }
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "signal",
            Self::StateChange => "state_change",
            Self::Alert => "alert",
            Self::Order => "order",
        }
    }
}

/// One `monitor_signal_event` row.
#[derive(Debug, Clone)]
pub struct Event {
    /// Auto-increment id (insert order, not commit order).
    pub id: i64,
    /// Per-variant sequence in commit order, assigned by the database.
    pub seq: i64,
    /// Strategy variant.
    pub variant: String,
    /// Instance within the variant.
    pub instance_id: String,
    /// `symbol.exchange`.
    pub vt_symbol: String,
    /// Bar the event belongs to.
    pub bar_dt: Option<DateTime<Utc>>,
    /// `signal`, `state_change`, `alert`, `order`.
    pub event_type: String,
    /// Idempotency key.
    pub event_key: String,
    /// When the writer created the event (UTC).
    pub created_at: DateTime<Utc>,
    /// `payload_json`.
    pub payload: Payload,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("variant", &self.variant)?;
        m.serialize_entry("instance_id", &self.instance_id)?;
        m.serialize_entry("vt_symbol", &self.vt_symbol)?;
        m.serialize_entry("bar_dt", &opt_time(&self.bar_dt))?;
        m.serialize_entry("event_type", &self.event_type)?;
        m.serialize_entry("event_key", &self.event_key)?;
        m.serialize_entry("created_at", &fmt_time(&self.created_at))?;
        self.payload.write(&mut m)?;
        m.end()
    }
}

/// One entry of `GET /api/variants`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSummary {
    /// Variant name.
    pub variant: String,
    /// Instance ids with a snapshot, sorted.
    pub instances: Vec<String>,
    /// Latest `updated_at` over its snapshots (RFC 3339), or null if it only has events.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<String>,
}

/// An event for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn test_event(seq: i64, payload: Payload) -> Event {
    Event {
        id: 1,
        seq,
        variant: "v".into(),
        instance_id: "i".into(),
        vt_symbol: "rb2405.SHFE".into(),
        bar_dt: None,
        event_type: "signal".into(),
        event_key: "k".into(),
        created_at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: Payload) -> Event {
        test_event(2, payload)
    }

    #[test]
    fn event_json_shape() {
        let e = event(parse_payload(r#"{"a":1}"#.into(), "t"));
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["payload"]["a"], 1);
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000000Z");
        assert!(v["bar_dt"].is_null());
        assert!(v.get("payload_raw").is_none());
    }

    #[test]
    fn invalid_payload_is_served_raw() {
        let e = event(parse_payload("{not json".into(), "t"));
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert!(v["payload"].is_null());
        assert_eq!(v["payload_raw"], "{not json");
    }
}
