//! Reading the OpenAPI document in tests: references, parameters, and a JSON Schema validator
//! for the body the document gives a route and status.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// Follows a top-level `$ref` (`#/components/...`) within `doc`.
pub fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).expect("a $ref into the document"),
        None => v,
    }
}

/// The `in: query` parameters of `GET path`, resolved.
pub fn query_params<'a>(doc: &'a Value, path: &str) -> Vec<&'a Value> {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| resolve(doc, p))
                .filter(|p| p["in"] == "query")
                .collect()
        })
        .unwrap_or_default()
}

/// The parameter's schema, with `type: [T, "null"]` and a top-level `$ref` resolved.
pub fn param_schema<'a>(doc: &'a Value, param: &'a Value) -> &'a Value {
    let schema = &param["schema"];
    let schema = schema["oneOf"]
        .as_array()
        .and_then(|alts| alts.iter().find(|s| s["type"] != "null"))
        .unwrap_or(schema);
    resolve(doc, schema)
}

/// Every `$ref` in `v`.
pub fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// A validator for the body of `GET template` answering `status`, per the document.
pub fn body_validator(doc: &Value, template: &str, status: StatusCode) -> jsonschema::Validator {
    let responses = &doc["paths"][template]["get"]["responses"];
    let response = resolve(doc, &responses[status.as_str()]);
    assert!(
        response.is_object(),
        "{template}: status {status} is not documented"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{template} {status}: no JSON schema");
    // The whole document is the root, so `#/components/schemas/...` references resolve.
    let mut root = doc.clone();
    root["$defs"] = json!({ "response": schema });
    root["$ref"] = json!("#/$defs/response");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .expect("the schema compiles")
}
