//! Snapshot deltas: RFC 7386 JSON merge patches between two versions of an instance's snapshot.
//!
//! A merge patch cannot set a member to `null` (`null` means "remove"), so a target holding a
//! `null` member the base does not already hold with that value has no merge patch:
//! [`merge_diff`] returns `None` and the full `snapshot_update` goes out instead. `null`s inside
//! arrays are fine (arrays are replaced whole).

use serde::Serialize;
use serde_json::{Map, Value, value::RawValue};

use crate::bus::PublishedSnapshot;

/// The merge patch turning `base` into `target`, or `None` when no merge patch can.
pub fn merge_diff(base: &Value, target: &Value) -> Option<Value> {
    match (base, target) {
        (Value::Object(b), Value::Object(t)) => {
            let mut patch = Map::new();
            for k in b.keys().filter(|k| !t.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            for (k, tv) in t {
                match b.get(k) {
                    Some(bv) if bv == tv => {}
                    Some(bv @ Value::Object(_)) if tv.is_object() => {
                        patch.insert(k.clone(), merge_diff(bv, tv)?);
                    }
                    _ => {
                        patch.insert(k.clone(), literal(tv)?);
                    }
                }
            }
            Some(Value::Object(patch))
        }
        _ => literal(target),
    }
}

/// `v` as a patch value that replaces what is there: objects are merged into `{}` when applied,
/// which drops their `null` members, so a value with a `null` member has no such form.
fn literal(v: &Value) -> Option<Value> {
    fn has_null_member(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.values().any(|x| x.is_null() || has_null_member(x)),
            _ => false,
        }
    }
    (!v.is_null() && !has_null_member(v)).then(|| v.clone())
}

/// Applies a merge patch to `target` (RFC 7386 section 2).
pub fn merge_apply(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_apply(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The `snapshot_delta` payload.
#[derive(Serialize)]
struct SnapshotDelta<'a> {
    variant: &'a str,
    instance_id: &'a str,
    version: i64,
    base_version: i64,
    patch: Value,
}

/// The `snapshot_delta` JSON from `old` to `new` (the patch applies to the whole snapshot
/// document), or `None` when there is no merge patch or it would not be smaller than `new`.
pub fn snapshot_delta(old: &PublishedSnapshot, new: &PublishedSnapshot) -> Option<Box<RawValue>> {
    let base: Value = serde_json::from_str(old.json.get()).ok()?;
    let target: Value = serde_json::from_str(new.json.get()).ok()?;
    let msg = SnapshotDelta {
        variant: &new.variant,
        instance_id: &new.instance_id,
        version: new.version,
        base_version: old.version,
        patch: merge_diff(&base, &target)?,
    };
    let json = serde_json::value::to_raw_value(&msg).ok()?;
    (json.get().len() < new.json.get().len()).then_some(json)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[abc]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// An object close to `base`: some members kept, changed, dropped or added.
    fn edited(base: Value) -> impl Strategy<Value = Value> {
        (json_value(), any::<u8>()).prop_map(move |(other, pick)| match (&base, other) {
            (Value::Object(b), Value::Object(o)) if pick % 2 == 0 => {
                let mut m = b.clone();
                for (k, v) in o {
                    m.insert(k, v);
                }
                Value::Object(m)
            }
            (_, other) => other,
        })
    }

    proptest! {
        #[test]
        fn the_patch_turns_base_into_target(
            (base, target) in json_value().prop_flat_map(|b| (Just(b.clone()), edited(b)))
        ) {
            match merge_diff(&base, &target) {
                Some(patch) => {
                    let mut got = base.clone();
                    merge_apply(&mut got, &patch);
                    prop_assert_eq!(got, target);
                }
                // Only a null member the patch cannot set makes the delta impossible.
                None => prop_assert!(target.to_string().contains("null")),
            }
        }
    }

    fn published(version: i64, changed: i64) -> PublishedSnapshot {
        let book: Map<String, Value> = (0..500)
            .map(|i| {
                let price = if i < 5 { 3500 + i + changed } else { 3500 + i };
                (
                    format!("SYM{i:03}.SHFE"),
                    json!({"price": price, "qty": i, "side": "long"}),
                )
            })
            .collect();
        let doc = json!({"variant": "v", "instance_id": "i", "version": version,
            "updated_at": format!("2026-11-21T05:4{version}:00.000000Z"), "bar_dt": null,
            "payload": {"instruments": book}});
        PublishedSnapshot {
            variant: "v".into(),
            instance_id: "i".into(),
            version,
            json: serde_json::value::to_raw_value(&doc).expect("json"),
        }
    }

    #[test]
    fn a_500_instrument_book_with_5_changed_is_a_small_delta() {
        let (old, new) = (published(1, 0), published(2, 1));
        let delta = snapshot_delta(&old, &new).expect("delta");
        let (full, small) = (new.json.get().len(), delta.get().len());
        println!("full snapshot_update {full} bytes, snapshot_delta {small} bytes");
        assert!(small * 10 <= full, "{small} of {full}");
        let mut doc: Value = serde_json::from_str(old.json.get()).expect("old");
        let msg: Value = serde_json::from_str(delta.get()).expect("delta");
        merge_apply(&mut doc, &msg["patch"]);
        assert_eq!(
            doc,
            serde_json::from_str::<Value>(new.json.get()).expect("new")
        );
        // Nothing in common: no delta (it would not be smaller).
        let mut other = published(3, 0);
        other.json = serde_json::value::to_raw_value(&json!({"x": 1})).expect("json");
        assert!(snapshot_delta(&old, &other).is_none());
    }

    #[test]
    fn null_members_fall_back_and_removals_are_nulls() {
        let base = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let target = json!({"b": {"c": 2, "d": 4}, "e": [null]});
        let patch = merge_diff(&base, &target).expect("patch");
        assert_eq!(patch, json!({"a": null, "b": {"d": 4}, "e": [null]}));
        assert!(merge_diff(&base, &json!({"a": null})).is_none());
        assert!(merge_diff(&base, &json!({"a": {"x": null}})).is_none());
        // A null the base already holds needs no patch entry.
        let patch = merge_diff(&json!({"n": null, "a": 1}), &json!({"n": null, "a": 2}));
        assert_eq!(patch, Some(json!({"a": 2})));
    }
}
