//! The overview of all variants (`GET /api/overview`, `overview_update`): one small summary per
//! variant, computed from the serialised snapshots and events the gateway already holds.
//!
//! Fields are declared in alphabetical order, so the serialised text is already sorted as every
//! REST body is, and the same text can be pushed over Socket.IO.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The four state lights, in the dashboard's order.
pub const LIGHTS: [&str; 4] = ["dull_top", "dull_bottom", "div_top", "div_bottom"];

/// How many instruments have each light on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lights {
    /// Instruments with `div_bottom` on.
    pub div_bottom: u32,
    /// Instruments with `div_top` on.
    pub div_top: u32,
    /// Instruments with `dull_bottom` on.
    pub dull_bottom: u32,
    /// Instruments with `dull_top` on.
    pub dull_top: u32,
}

impl Lights {
    fn add(&mut self, other: &Lights) {
        self.div_bottom += other.div_bottom;
        self.div_top += other.div_top;
        self.dull_bottom += other.dull_bottom;
        self.dull_top += other.dull_top;
    }

    fn count(&mut self, name: &str) {
        match name {
            "dull_top" => self.dull_top += 1,
            "dull_bottom" => self.dull_bottom += 1,
            "div_top" => self.div_top += 1,
            _ => self.div_bottom += 1,
        }
    }
}

/// The newest event of a variant the gateway has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastEvent {
    /// When the writer created it (UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `signal`, `state_change`, `alert`, `order` (or another stored value).
    pub event_type: String,
    /// Its symbol.
    pub vt_symbol: String,
}

impl LastEvent {
    /// The fields of a serialised event (`None` if the text is not an event).
    pub fn from_event_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }
}

/// What one snapshot row contributes to its variant's summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceSummary {
    /// `updated_at` as served (fixed-width UTC text, so it sorts by time).
    pub updated_at: String,
    /// `bar_interval`.
    pub bar_interval: Option<String>,
    /// `bar_window`.
    pub bar_window: Option<i64>,
    /// Instruments in the payload.
    pub instruments: u32,
    /// Lights on over those instruments.
    pub lights: Lights,
}

/// The fields of a serialised snapshot the summary needs.
#[derive(Deserialize)]
struct SnapshotView {
    updated_at: String,
    #[serde(default)]
    bar_interval: Option<String>,
    #[serde(default)]
    bar_window: Option<i64>,
    #[serde(default)]
    payload: Value,
}

/// JavaScript truthiness (the dashboard's `Boolean(x)`).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Whether a light is on: `status.<name>`, else the top-level `<name>` (as `web/js/util.js`).
fn light(inst: &Value, name: &str) -> bool {
    match inst.get("status").and_then(|s| s.get(name)) {
        Some(v) if !v.is_null() => truthy(v),
        _ => inst.get(name).is_some_and(truthy),
    }
}

/// The instruments of a payload: a map keyed by vt_symbol (object values) or a list of objects
/// with a string `vt_symbol` (as the dashboard's `instrumentsOf`).
fn instruments(payload: &Value) -> Vec<&Value> {
    match payload.get("instruments") {
        Some(Value::Array(list)) => list
            .iter()
            .filter(|i| i.get("vt_symbol").is_some_and(Value::is_string))
            .collect(),
        Some(Value::Object(map)) => map.values().filter(|v| v.is_object()).collect(),
        _ => Vec::new(),
    }
}

impl InstanceSummary {
    /// The contribution of one serialised snapshot (`None` if the text is not a snapshot).
    pub fn from_snapshot_json(json: &str) -> Option<Self> {
        let view: SnapshotView = serde_json::from_str(json).ok()?;
        let list = instruments(&view.payload);
        let mut lights = Lights::default();
        for inst in &list {
            for name in LIGHTS {
                if light(inst, name) {
                    lights.count(name);
                }
            }
        }
        Some(Self {
            updated_at: view.updated_at,
            bar_interval: view.bar_interval,
            bar_window: view.bar_window,
            instruments: u32::try_from(list.len()).unwrap_or(u32::MAX),
            lights,
        })
    }
}

/// One variant's summary.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverviewSummary {
    /// `bar_interval` of the newest snapshot.
    pub bar_interval: Option<String>,
    /// `bar_window` of the newest snapshot.
    pub bar_window: Option<i64>,
    /// Snapshot rows (instances) of the variant.
    pub instances: u32,
    /// Instruments over all instances.
    pub instruments: u32,
    /// The newest event the gateway has seen since it started (null until one arrives).
    pub last_event: Option<LastEvent>,
    /// The variant's event position (highest delivered seq; 0: none).
    pub last_seq: i64,
    /// Instruments whose light is on.
    pub lights: Lights,
    /// Newest snapshot `updated_at` (UTC), null without snapshots.
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
    /// Variant name.
    pub variant: String,
}

impl OverviewSummary {
    /// Folds a variant's instances, position and newest event into its summary.
    pub fn build<'a>(
        variant: &str,
        instances: impl IntoIterator<Item = &'a InstanceSummary>,
        last_seq: i64,
        last_event: Option<LastEvent>,
    ) -> Self {
        let mut out = Self {
            bar_interval: None,
            bar_window: None,
            instances: 0,
            instruments: 0,
            last_event,
            last_seq,
            lights: Lights::default(),
            updated_at: None,
            variant: variant.to_owned(),
        };
        for i in instances {
            out.instances += 1;
            out.instruments += i.instruments;
            out.lights.add(&i.lights);
            if out.updated_at.as_ref().is_none_or(|u| *u < i.updated_at) {
                out.updated_at = Some(i.updated_at.clone());
                out.bar_interval = i.bar_interval.clone();
                out.bar_window = i.bar_window;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(updated: &str, payload: &str) -> String {
        format!(
            r#"{{"variant":"v","instance_id":"i","version":1,"updated_at":"{updated}","bar_dt":null,"bar_interval":"1m","bar_window":5,"payload":{payload}}}"#
        )
    }

    #[test]
    fn counts_instruments_and_lights_of_a_map_and_a_list() {
        let map = snap(
            "2026-01-01T00:00:00.000000Z",
            r#"{"instruments":{"a.X":{"status":{"dull_top":true,"div_top":1}},"b.X":{"dull_top":"yes","status":{"dull_top":null}},"c.X":3}}"#,
        );
        let s = InstanceSummary::from_snapshot_json(&map).expect("snapshot");
        assert_eq!(s.instruments, 2);
        assert_eq!(
            s.lights,
            Lights {
                dull_top: 2,
                div_top: 1,
                ..Lights::default()
            }
        );
        let list = snap(
            "2026-01-01T00:00:01.000000Z",
            r#"{"instruments":[{"vt_symbol":"a.X","div_bottom":0,"status":{"dull_bottom":false}},{"nope":1}]}"#,
        );
        let l = InstanceSummary::from_snapshot_json(&list).expect("snapshot");
        assert_eq!((l.instruments, l.lights), (1, Lights::default()));
        let sum = OverviewSummary::build("v", [&s, &l], 7, None);
        assert_eq!((sum.instances, sum.instruments, sum.last_seq), (2, 3, 7));
        assert_eq!(
            sum.updated_at.as_deref(),
            Some("2026-01-01T00:00:01.000000Z")
        );
        assert_eq!(
            (sum.bar_interval.as_deref(), sum.bar_window),
            (Some("1m"), Some(5))
        );
        assert!(InstanceSummary::from_snapshot_json("[]").is_none());
    }

    #[test]
    fn serialised_keys_are_sorted() {
        let sum = OverviewSummary::build("v", [], 0, None);
        let text = serde_json::to_string(&sum).expect("serialises");
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(serde_json::to_string(&value).expect("serialises"), text);
    }
}
