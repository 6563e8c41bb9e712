//! The Socket.IO wire contract: typed requests with precise errors, and ack shapes.
//!
//! client → `subscribe` `{variant, instance_id?, vt_symbols?: [..], since_seq?, epoch?, batch?,
//! deltas?}` (ack)
//! client → `unsubscribe` `{variant}` (ack)
//! client → `subscribe_bars` / `unsubscribe_bars` `{vt_symbol, interval}` (ack)
//! client → `subscribe_overview` / `unsubscribe_overview` `{}` (ack)
//! server → `snapshot_update` Snapshot, `event_new` Event, `bar_update` `{vt_symbol, interval, bar}`,
//! `event_batch` `{variant, events}` (`batch: true`), `snapshot_delta` `{variant, instance_id,
//! version, base_version, patch}` (`deltas: true`), `overview_update` `{variants}`
//!
//! Requests are serde structs with `deny_unknown_fields`; [`parse`] runs them through
//! `serde_path_to_error`, so every message names the offending field (`since_seq: invalid
//! type: string "5", expected i64`).

use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    domain::{InstanceId, Interval, Variant, VtSymbol},
    store::BarSeries,
};

/// A rejected request: sent back as `{ok:false, error:{code, message}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError {
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message naming the offending field.
    pub message: String,
}

impl ProtoError {
    /// A new error.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An `invalid_request` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_request", message)
    }

    /// The ack payload.
    pub fn to_ack(&self) -> Value {
        json!({"ok": false, "error": {"code": self.code, "message": self.message}})
    }
}

/// A `subscribe` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    /// Variant to follow.
    pub variant: Variant,
    /// Only this instance's snapshots in the ack.
    #[serde(default)]
    pub instance_id: Option<InstanceId>,
    /// Only events of these symbols (absent, null or empty = all).
    #[serde(default, deserialize_with = "symbols")]
    pub vt_symbols: Vec<VtSymbol>,
    /// Replay events after this seq in the ack.
    #[serde(default, deserialize_with = "since_seq")]
    pub since_seq: Option<i64>,
    /// The epoch `since_seq` belongs to (from an earlier ack or `stream_reset`); when it is not
    /// the current one, the ack says `reset: true` and replays nothing.
    #[serde(default, deserialize_with = "epoch")]
    pub epoch: Option<String>,
    /// Receive each fan-out step's events as one `event_batch` instead of `event_new`s.
    #[serde(default, deserialize_with = "flag")]
    pub batch: bool,
    /// Receive snapshot changes as `snapshot_delta` merge patches against the held version.
    #[serde(default, deserialize_with = "flag")]
    pub deltas: bool,
}

/// An optional boolean option (absent or null = false).
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// Longest accepted `epoch` (they are short tokens).
const MAX_EPOCH_LEN: usize = 64;

fn epoch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(e) if e.len() > MAX_EPOCH_LEN => Err(serde::de::Error::custom(format!(
            "is {} bytes long; the maximum is {MAX_EPOCH_LEN}",
            e.len()
        ))),
        other => Ok(other),
    }
}

/// An `unsubscribe` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeRequest {
    /// Variant to leave.
    pub variant: Variant,
}

/// A `subscribe_overview` or `unsubscribe_overview` request: no fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewRequest {}

/// A `subscribe_bars` or `unsubscribe_bars` request: one bar series.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarsRequest {
    /// Instrument.
    pub vt_symbol: VtSymbol,
    /// VnPy interval: `1m`, `1h`, `d` or `w`.
    pub interval: Interval,
}

impl From<BarsRequest> for BarSeries {
    fn from(r: BarsRequest) -> Self {
        Self {
            vt_symbol: r.vt_symbol,
            interval: r.interval,
        }
    }
}

fn symbols<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<VtSymbol>, D::Error> {
    let list = Option::<Vec<VtSymbol>>::deserialize(d)?.unwrap_or_default();
    let mut out: Vec<VtSymbol> = Vec::with_capacity(list.len());
    for s in list {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn since_seq<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        Some(v) if v < 0 => Err(serde::de::Error::custom(format!(
            "must be a non-negative integer, got {v}"
        ))),
        other => Ok(other),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses the payload of `event` into `T`. Errors name the field: `variant: missing field`,
/// `vt_symbols[0]: vt_symbol 'x' must be SYMBOL.EXCHANGE`, `unknown field 'sinceSeq'`.
pub fn parse<T: DeserializeOwned>(event: &str, data: Value) -> Result<T, ProtoError> {
    if !data.is_object() {
        return Err(ProtoError::invalid(format!(
            "{event} payload must be an object like {{\"variant\":\"...\"}}, got {}",
            kind(&data)
        )));
    }
    serde_path_to_error::deserialize(data).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // serde quotes names with backticks; the protocol docs use single quotes.
        let inner = inner.replace('`', "'");
        ProtoError::invalid(if path == "." || inner.contains("field '") {
            inner
        } else {
            format!("{path}: {inner}")
        })
    })
}

/// Checks the limits a well-formed subscribe may still break.
pub fn check_subscribe(req: &SubscribeRequest, max_symbols: usize) -> Result<(), ProtoError> {
    if req.vt_symbols.len() > max_symbols {
        return Err(ProtoError::new(
            "too_many_symbols",
            format!(
                "vt_symbols has {} entries; the limit is {max_symbols}",
                req.vt_symbols.len()
            ),
        ));
    }
    Ok(())
}

/// A room-name component: `%` and `:` percent-encoded, so the `:` separating components never
/// occurs inside one and two different (variant, symbol) pairs never share a room. Names
/// without either character are unchanged (`room:variant:trend_a`).
fn room_part(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains(['%', ':']) {
        name.replace('%', "%25").replace(':', "%3A").into()
    } else {
        name.into()
    }
}

/// The room every full-variant subscriber joins: `room:variant:<variant>` with the variant
/// encoded by [`room_part`] (injective: no variant's room is another variant's or a symbol's).
pub fn variant_room(variant: &str) -> String {
    format!("room:variant:{}", room_part(variant))
}

/// The room a subscriber filtered to one symbol joins: `room:variant:<variant>:<vt_symbol>`,
/// both encoded by [`room_part`], so it has exactly one more `:` than any variant room.
pub fn symbol_room(variant: &str, vt_symbol: &str) -> String {
    format!(
        "room:variant:{}:{}",
        room_part(variant),
        room_part(vt_symbol)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(v: Value) -> Result<SubscribeRequest, ProtoError> {
        let req: SubscribeRequest = parse("subscribe", v)?;
        check_subscribe(&req, 2)?;
        Ok(req)
    }

    fn err(v: Value) -> ProtoError {
        match sub(v.clone()) {
            Ok(r) => panic!("{v} should fail, got {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn valid_subscribe() {
        let r =
            sub(json!({"variant":"v1","vt_symbols":["a.X","a.X"],"since_seq":5})).expect("valid");
        assert_eq!(r.variant.as_str(), "v1");
        assert_eq!(r.vt_symbols.len(), 1);
        assert_eq!(r.since_seq, Some(5));
        let r = sub(json!({"variant":"v1","vt_symbols":null,"instance_id":null})).expect("nulls");
        assert!(r.vt_symbols.is_empty() && r.instance_id.is_none());
        assert!(!r.batch && !r.deltas);
        let r = sub(json!({"variant":"v1","batch":true,"deltas":true})).expect("options");
        assert!(r.batch && r.deltas);
    }

    #[test]
    fn bad_subscribes_name_the_field() {
        let cases = [
            (json!("v1"), "object"),
            (json!({}), "variant"),
            (json!({"variant": 3}), "variant: invalid type"),
            (json!({"variant": "a\u{1}"}), "control"),
            (json!({"variant": "v", "since_seq": -1}), "since_seq"),
            (json!({"variant": "v", "since_seq": "1"}), "since_seq"),
            (json!({"variant": "v", "since_seq": 1.5}), "since_seq"),
            (json!({"variant": "v", "vt_symbols": "a.X"}), "vt_symbols"),
            (json!({"variant": "v", "vt_symbols": [1]}), "vt_symbols[0]"),
            (
                json!({"variant": "v", "vt_symbols": ["nodot"]}),
                "SYMBOL.EXCHANGE",
            ),
            (json!({"variant": "v", "instance_id": 7}), "instance_id"),
            (
                json!({"variant": "v", "batch": "yes"}),
                "batch: invalid type",
            ),
            (json!({"variant": "v", "deltas": 1}), "deltas: invalid type"),
            (
                json!({"variant": "v", "sinceSeq": 1}),
                "unknown field 'sinceSeq'",
            ),
        ];
        for (payload, needle) in cases {
            let e = err(payload.clone());
            assert_eq!(e.code, "invalid_request", "{payload}");
            assert!(
                e.message.contains(needle),
                "{payload}: {:?} lacks {needle:?}",
                e.message
            );
        }
        assert_eq!(
            err(json!({"variant": "v", "vt_symbols": ["a.X","b.X","c.X"]})).code,
            "too_many_symbols"
        );
    }

    #[test]
    fn rooms_never_collide() {
        let names = [
            "acct",
            "acct:rb2405.SHFE",
            "rb2405.SHFE",
            "a%3Ab",
            "a:b",
            "a",
            "b",
            "a:",
            ":b",
            "%",
            "%25",
            ":",
        ];
        let mut seen = std::collections::HashMap::new();
        for v in names {
            assert!(seen.insert(variant_room(v), (v, None)).is_none(), "{v}");
            for s in names {
                let room = symbol_room(v, s);
                assert_eq!(room.matches(':').count(), 3, "{room}");
                if let Some(other) = seen.insert(room.clone(), (v, Some(s))) {
                    panic!("{room}: ({v}, {s}) collides with {other:?}");
                }
            }
        }
        assert_eq!(variant_room("trend_a"), "room:variant:trend_a");
        assert_eq!(
            symbol_room("acct", "rb2405.SHFE"),
            "room:variant:acct:rb2405.SHFE"
        );
        assert_ne!(
            variant_room("acct:rb2405.SHFE"),
            symbol_room("acct", "rb2405.SHFE")
        );
    }

    #[test]
    fn unsubscribe_is_typed_too() {
        let r: UnsubscribeRequest = parse("unsubscribe", json!({"variant": "v"})).expect("ok");
        assert_eq!(r.variant.as_str(), "v");
        let e = parse::<UnsubscribeRequest>("unsubscribe", json!({"nope": 1})).unwrap_err();
        assert!(e.message.contains("nope"), "{}", e.message);
    }
}
