//! What travels on the bus, and its wire format.
//!
//! Events and snapshots are serialised to their client-facing JSON **once**, by the poller; the
//! bus carries that text (as [`RawValue`]) next to the few fields the consumers route by, so no
//! instance serialises a row again. Every message is serde in both directions
//! ([`BusMessage::to_json`] / [`BusMessage::from_json`]) so it can cross a process boundary
//! (Redis pub/sub in group mode).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    domain::{Bar, Event, Interval, Snapshot, VtSymbol},
    store::BarSeries,
};

/// An event serialised once, ready to be queued on any number of sockets.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedEvent {
    /// The event's seq.
    pub seq: i64,
    /// Its symbol (per-symbol rooms and filters).
    pub vt_symbol: String,
    /// The Event JSON sent to clients.
    pub json: Box<RawValue>,
}

impl PublishedEvent {
    /// Serialises `event`.
    pub fn new(event: &Event) -> Result<Arc<Self>, serde_json::Error> {
        Ok(Arc::new(Self {
            seq: event.seq,
            vt_symbol: event.vt_symbol.clone(),
            json: serde_json::value::to_raw_value(event)?,
        }))
    }
}

/// A snapshot row serialised once.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedSnapshot {
    /// Variant.
    pub variant: String,
    /// Instance.
    pub instance_id: String,
    /// Row version.
    pub version: i64,
    /// The Snapshot JSON sent to clients.
    pub json: Box<RawValue>,
}

impl PublishedSnapshot {
    /// Serialises `snapshot`.
    pub fn new(snapshot: &Snapshot) -> Result<Arc<Self>, serde_json::Error> {
        Ok(Arc::new(Self {
            variant: snapshot.variant.clone(),
            instance_id: snapshot.instance_id.clone(),
            version: snapshot.version,
            json: serde_json::value::to_raw_value(snapshot)?,
        }))
    }
}

/// The latest bar of one series, serialised once as its `bar_update` payload
/// (`{"vt_symbol", "interval", "bar"}`, times in UTC).
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedBar {
    /// Instrument (routing: the room `bars:<vt_symbol>:<interval>`).
    pub vt_symbol: VtSymbol,
    /// Interval.
    pub interval: Interval,
    /// The `bar_update` JSON sent to clients; two pushes of the same bar have the same text.
    pub json: Box<RawValue>,
}

/// The `bar_update` payload (field order fixed, so equal bars serialise to equal text).
#[derive(Serialize)]
struct BarUpdate<'a> {
    vt_symbol: &'a VtSymbol,
    interval: Interval,
    bar: &'a Bar,
}

impl PublishedBar {
    /// Serialises `bar`, the latest of `series`.
    pub fn new(series: &BarSeries, bar: &Bar) -> Result<Arc<Self>, serde_json::Error> {
        let update = BarUpdate {
            vt_symbol: &series.vt_symbol,
            interval: series.interval,
            bar,
        };
        Ok(Arc::new(Self {
            vt_symbol: series.vt_symbol.clone(),
            interval: series.interval,
            json: serde_json::value::to_raw_value(&update)?,
        }))
    }

    /// Its series.
    pub fn series(&self) -> BarSeries {
        BarSeries {
            vt_symbol: self.vt_symbol.clone(),
            interval: self.interval,
        }
    }

    /// Whether `other` is the same push (same series, same bar, same values).
    pub fn same_as(&self, other: &Self) -> bool {
        self.json.get() == other.json.get()
    }
}

/// All events of one variant with `after_seq < seq <= upto_seq`, ascending.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBatch {
    /// Variant.
    pub variant: String,
    /// The position this batch continues from.
    pub after_seq: i64,
    /// The position after this batch (may exceed the last event's seq when positions have no
    /// row: pruned, or burnt by ignored inserts under the insert trigger before migration 0005).
    pub upto_seq: i64,
    /// The events.
    pub events: Vec<Arc<PublishedEvent>>,
}

/// What the poller publishes. Externally tagged (`{"events": {..}}`): serde_json's
/// [`RawValue`] cannot be read back through an internally tagged enum.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusMessage {
    /// New events of one variant.
    Events(EventBatch),
    /// A snapshot row changed (its newest content).
    Snapshot(Arc<PublishedSnapshot>),
    /// The variant's history in the database went backwards (recreated or restored): drop
    /// everything held for it and start `epoch` at position `head`.
    Reset(StreamReset),
    /// The latest bars of followed series that are new or changed (and, now and then, all of
    /// them again: consumers push only what differs from what they pushed last).
    Bars(Vec<Arc<PublishedBar>>),
}

/// A new epoch of one variant's stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamReset {
    /// Variant.
    pub variant: String,
    /// The new epoch (opaque; clients compare it for equality).
    pub epoch: String,
    /// The database's position when the reset was detected.
    pub head: i64,
}

impl BusMessage {
    /// The wire form.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Parses the wire form.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{parse_payload, test_event};

    #[test]
    fn wire_format_round_trips_without_reserialising() {
        let event = test_event(3, parse_payload(r#"{"b": 2, "a": 1}"#.into(), "t"));
        let published = PublishedEvent::new(&event).expect("serialises");
        let msg = BusMessage::Events(EventBatch {
            variant: "v".into(),
            after_seq: 2,
            upto_seq: 4,
            events: vec![published.clone()],
        });
        let text = msg.to_json().expect("to json");
        assert!(text.starts_with(r#"{"events":"#), "{text}");
        let BusMessage::Events(back) = BusMessage::from_json(&text).expect("from json") else {
            panic!("wrong variant");
        };
        assert_eq!((back.after_seq, back.upto_seq), (2, 4));
        assert_eq!(back.events[0].seq, 3);
        assert_eq!(back.events[0].json.get(), published.json.get());
        assert!(BusMessage::from_json(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn bars_round_trip_and_equal_bars_serialise_equally() {
        let series = BarSeries {
            vt_symbol: VtSymbol::parse("rb2405.SHFE").expect("symbol"),
            interval: Interval::Minute,
        };
        let bar = |close| Bar {
            datetime: chrono::DateTime::from_timestamp(1_714_527_000, 0).expect("time"),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close,
            volume: 3.0,
            turnover: 4.0,
            open_interest: 5.0,
        };
        let a = PublishedBar::new(&series, &bar(1.5)).expect("serialises");
        assert!(a.same_as(&PublishedBar::new(&series, &bar(1.5)).expect("serialises")));
        assert!(!a.same_as(&PublishedBar::new(&series, &bar(1.6)).expect("serialises")));
        assert!(
            a.json
                .get()
                .starts_with(r#"{"vt_symbol":"rb2405.SHFE","interval":"1m","bar":{"#),
            "{}",
            a.json.get()
        );
        let text = BusMessage::Bars(vec![a.clone()])
            .to_json()
            .expect("to json");
        let BusMessage::Bars(back) = BusMessage::from_json(&text).expect("from json") else {
            panic!("wrong variant");
        };
        assert_eq!(back[0].series(), series);
        assert!(back[0].same_as(&a));
    }
}
