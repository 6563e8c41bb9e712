//! OpenAPI schemas of the wire shapes whose `Serialize` is written by hand ([`Snapshot`],
//! [`Event`]: fixed key order, the payload passed through as raw JSON, `payload_raw` only when
//! the stored text is not JSON). The unit tests below validate real serialisations against
//! these schemas, so a key added to `Serialize` without a line here fails them.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type,
        schema::{AdditionalProperties, SchemaType},
    },
};

use super::{Event, Snapshot};

/// A UTC time as every response writes it (`2024-05-01T09:30:00.000000Z`).
fn time(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(description))
        .examples(["2024-05-01T09:30:00.000000Z"])
}

/// `type: [<t>, "null"]`.
fn nullable(schema: ObjectBuilder, t: Type) -> ObjectBuilder {
    schema.schema_type(SchemaType::from_iter([t, Type::Null]))
}

fn typed(t: Type, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(t)
        .description(Some(description))
}

fn int64(description: &str) -> ObjectBuilder {
    typed(Type::Integer, description).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

/// Adds `payload` (any JSON, required) and `payload_raw` (optional) and closes the object.
fn with_payload(object: ObjectBuilder) -> RefOr<Schema> {
    object
        .property(
            "payload",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some(
                    "`payload_json` exactly as stored (normally an object); null when the stored \
                 text is not valid JSON (possible only on SQLite)",
                )),
        )
        .required("payload")
        .property(
            "payload_raw",
            typed(
                Type::String,
                "Present only when the stored payload is not valid JSON: the stored text",
            ),
        )
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
        .into()
}

impl PartialSchema for Snapshot {
    fn schema() -> RefOr<Schema> {
        let object = ObjectBuilder::new()
            .description(Some(
                "The latest state of one strategy instance (a `monitor_signal_snapshot` row)",
            ))
            .property("variant", typed(Type::String, "Strategy variant"))
            .property(
                "instance_id",
                typed(Type::String, "Instance within the variant"),
            )
            .property(
                "version",
                int64("Row version, incremented by the database on every update"),
            )
            .property(
                "updated_at",
                time("When the writer last updated the row (UTC)"),
            )
            .property(
                "bar_dt",
                nullable(time("Bar the state was computed on"), Type::String),
            )
            .property(
                "bar_interval",
                nullable(typed(Type::String, "Bar interval, e.g. `1m`"), Type::String),
            )
            .property(
                "bar_window",
                nullable(
                    typed(Type::Integer, "Bar window, e.g. 1 for 1-minute bars")
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32))),
                    Type::Integer,
                ),
            );
        let required = [
            "variant",
            "instance_id",
            "version",
            "updated_at",
            "bar_dt",
            "bar_interval",
            "bar_window",
        ];
        with_payload(required.into_iter().fold(object, ObjectBuilder::required))
    }
}

impl ToSchema for Snapshot {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Snapshot")
    }
}

impl PartialSchema for Event {
    fn schema() -> RefOr<Schema> {
        let object = ObjectBuilder::new()
            .description(Some("One `monitor_signal_event` row"))
            .property(
                "id",
                int64("Auto-increment id (insert order, not commit order)"),
            )
            .property(
                "seq",
                int64("Per-variant sequence in commit order, assigned by the database"),
            )
            .property("variant", typed(Type::String, "Strategy variant"))
            .property(
                "instance_id",
                typed(Type::String, "Instance within the variant"),
            )
            .property("vt_symbol", typed(Type::String, "`SYMBOL.EXCHANGE`"))
            .property(
                "bar_dt",
                nullable(time("Bar the event belongs to"), Type::String),
            )
            .property(
                "event_type",
                typed(
                    Type::String,
                    "`signal`, `state_change`, `alert` or `order`; other stored values are \
                     served as they are",
                ),
            )
            .property("event_key", typed(Type::String, "Idempotency key"))
            .property(
                "created_at",
                time("When the writer created the event (UTC)"),
            );
        let required = [
            "id",
            "seq",
            "variant",
            "instance_id",
            "vt_symbol",
            "bar_dt",
            "event_type",
            "event_key",
            "created_at",
        ];
        with_payload(required.into_iter().fold(object, ObjectBuilder::required))
    }
}

impl ToSchema for Event {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Event")
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::Value;

    use super::*;
    use crate::domain::{model::Payload, parse_payload, test_event};

    fn validate<T: PartialSchema>(value: &Value) {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{value} against {schema}: {errors:?}");
    }

    fn payloads() -> [Payload; 3] {
        [
            parse_payload(r#"{"a":1}"#.into(), "t"),
            parse_payload("[1,2]".into(), "t"),
            parse_payload("{not json".into(), "t"),
        ]
    }

    #[test]
    fn events_match_their_schema() {
        for payload in payloads() {
            let mut event = test_event(3, payload);
            validate::<Event>(&serde_json::to_value(&event).unwrap());
            event.bar_dt = DateTime::from_timestamp(60, 0);
            validate::<Event>(&serde_json::to_value(&event).unwrap());
        }
    }

    #[test]
    fn snapshots_match_their_schema() {
        for payload in payloads() {
            let mut snapshot = Snapshot {
                variant: "v".into(),
                instance_id: "i".into(),
                version: 2,
                updated_at: DateTime::from_timestamp(0, 0).unwrap(),
                bar_dt: None,
                bar_interval: None,
                bar_window: None,
                payload,
            };
            validate::<Snapshot>(&serde_json::to_value(&snapshot).unwrap());
            snapshot.bar_dt = DateTime::from_timestamp(60, 0);
            snapshot.bar_interval = Some("1m".into());
            snapshot.bar_window = Some(1);
            validate::<Snapshot>(&serde_json::to_value(&snapshot).unwrap());
        }
    }

    #[test]
    fn an_unknown_key_fails_the_schema() {
        let mut value = serde_json::to_value(test_event(1, payloads()[0].clone())).unwrap();
        value["extra"] = Value::Bool(true);
        let schema = serde_json::to_value(Event::schema()).unwrap();
        assert!(!jsonschema::is_valid(&schema, &value));
    }
}
