//! The Socket.IO wire contract: request parsing with precise errors, and ack shapes.
//!
//! client → `subscribe` `{variant, instance_id?, vt_symbols?: [..], since_seq?}` (ack)
//! client → `unsubscribe` `{variant}` (ack)
//! server → `snapshot_update` Snapshot, `event_new` Event

use serde_json::{Value, json};

use crate::domain::{InstanceId, Variant, VtSymbol};

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

    /// The ack payload.
    pub fn to_ack(&self) -> Value {
        json!({"ok": false, "error": {"code": self.code, "message": self.message}})
    }
}

/// A validated `subscribe` request.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    /// Variant to follow.
    pub variant: Variant,
    /// Only this instance's snapshots in the ack.
    pub instance_id: Option<InstanceId>,
    /// Only events of these symbols (empty = all).
    pub vt_symbols: Vec<VtSymbol>,
    /// Replay events after this seq in the ack.
    pub since_seq: Option<i64>,
}

const SUBSCRIBE_FIELDS: &str = "variant, instance_id, vt_symbols, since_seq";

fn invalid(message: impl Into<String>) -> ProtoError {
    ProtoError::new("invalid_request", message)
}

fn object(data: &Value, what: &str) -> Result<serde_json::Map<String, Value>, ProtoError> {
    match data {
        Value::Object(map) => Ok(map.clone()),
        other => Err(invalid(format!(
            "{what} payload must be an object like {{\"variant\":\"...\"}}, got {}",
            kind(other)
        ))),
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

fn variant_field(map: &serde_json::Map<String, Value>) -> Result<Variant, ProtoError> {
    match map.get("variant") {
        None | Some(Value::Null) => Err(invalid("variant is required")),
        Some(Value::String(s)) => Variant::parse(s).map_err(|e| invalid(e.0)),
        Some(other) => Err(invalid(format!(
            "variant must be a string, got {}",
            kind(other)
        ))),
    }
}

/// Parses a `subscribe` payload. `max_symbols` bounds `vt_symbols`.
pub fn parse_subscribe(data: &Value, max_symbols: usize) -> Result<SubscribeRequest, ProtoError> {
    let map = object(data, "subscribe")?;
    if let Some(key) = map
        .keys()
        .find(|k| !SUBSCRIBE_FIELDS.split(", ").any(|f| f == k.as_str()))
    {
        return Err(invalid(format!(
            "unknown field '{key}'; expected {SUBSCRIBE_FIELDS}"
        )));
    }
    let variant = variant_field(&map)?;
    let instance_id = match map.get("instance_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(InstanceId::parse(s).map_err(|e| invalid(e.0))?),
        Some(other) => {
            return Err(invalid(format!(
                "instance_id must be a string, got {}",
                kind(other)
            )));
        }
    };
    let vt_symbols = match map.get("vt_symbols") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > max_symbols {
                return Err(ProtoError::new(
                    "too_many_symbols",
                    format!(
                        "vt_symbols has {} entries; the limit is {max_symbols}",
                        items.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(s) = item else {
                    return Err(invalid(format!(
                        "vt_symbols entries must be strings, got {}",
                        kind(item)
                    )));
                };
                let sym = VtSymbol::parse(s).map_err(|e| invalid(e.0))?;
                if !out.contains(&sym) {
                    out.push(sym);
                }
            }
            out
        }
        Some(other) => {
            return Err(invalid(format!(
                "vt_symbols must be an array of strings, got {}",
                kind(other)
            )));
        }
    };
    let since_seq = match map.get("since_seq") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => Some(v),
            _ => {
                return Err(invalid(format!(
                    "since_seq must be a non-negative integer, got {n}"
                )));
            }
        },
        Some(other) => {
            return Err(invalid(format!(
                "since_seq must be a non-negative integer, got {}",
                kind(other)
            )));
        }
    };
    Ok(SubscribeRequest {
        variant,
        instance_id,
        vt_symbols,
        since_seq,
    })
}

/// Parses an `unsubscribe` payload.
pub fn parse_unsubscribe(data: &Value) -> Result<Variant, ProtoError> {
    let map = object(data, "unsubscribe")?;
    if let Some(key) = map.keys().find(|k| k.as_str() != "variant") {
        return Err(invalid(format!("unknown field '{key}'; expected variant")));
    }
    variant_field(&map)
}

/// The room every full-variant subscriber joins.
pub fn variant_room(variant: &str) -> String {
    format!("room:variant:{variant}")
}

/// The room a subscriber filtered to one symbol joins.
pub fn symbol_room(variant: &str, vt_symbol: &str) -> String {
    format!("room:variant:{variant}:{vt_symbol}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> ProtoError {
        parse_subscribe(&v, 2).unwrap_err()
    }

    #[test]
    fn valid_subscribe() {
        let r = parse_subscribe(
            &json!({"variant":"v1","vt_symbols":["a.X","a.X"],"since_seq":5}),
            2,
        )
        .unwrap();
        assert_eq!(r.variant.as_str(), "v1");
        assert_eq!(r.vt_symbols.len(), 1);
        assert_eq!(r.since_seq, Some(5));
    }

    #[test]
    fn bad_subscribes_name_the_field() {
        assert!(err(json!("v1")).message.contains("object"));
        assert!(err(json!({})).message.contains("variant is required"));
        assert!(
            err(json!({"variant": 3}))
                .message
                .contains("variant must be a string")
        );
        assert!(
            err(json!({"variant": "a\u{1}"}))
                .message
                .contains("control")
        );
        assert!(
            err(json!({"variant": "v", "since_seq": -1}))
                .message
                .contains("since_seq")
        );
        assert!(
            err(json!({"variant": "v", "since_seq": "1"}))
                .message
                .contains("since_seq")
        );
        assert!(
            err(json!({"variant": "v", "vt_symbols": "a.X"}))
                .message
                .contains("array")
        );
        assert!(
            err(json!({"variant": "v", "vt_symbols": ["nodot"]}))
                .message
                .contains("SYMBOL.EXCHANGE")
        );
        assert_eq!(
            err(json!({"variant": "v", "vt_symbols": ["a.X","b.X","c.X"]})).code,
            "too_many_symbols"
        );
        assert!(
            err(json!({"variant": "v", "sinceSeq": 1}))
                .message
                .contains("sinceSeq")
        );
    }
}
