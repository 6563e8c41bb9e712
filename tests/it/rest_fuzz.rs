//! Property test of the REST parameter parsing: whatever the query string, path segment or
//! value, the answer is a 2xx/4xx JSON document, never a 5xx. Runs against a real gateway on
//! every backend.

use proptest::prelude::*;
use serde_json::Value;

use crate::common::{Backend, spawn_app};

/// Keys the routes know, a few they do not, and case variants.
const KEYS: &[&str] = &[
    "vt_symbol",
    "type",
    "time_field",
    "start",
    "end",
    "after_seq",
    "limit",
    "interval",
    "max_points",
    "instance_id",
    "Type",
    "types",
    "after_id",
    "",
    "%00",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9._,:+ -]{0,40}",
        "-?[0-9]{1,25}",
        "[+-]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?",
        Just("9999-12-31T23:59:59Z".to_owned()),
        Just("1000-01-01".to_owned()),
        Just("rb2405.SHFE,IF2406.CFFEX".to_owned()),
        any::<String>(),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/api/events/v1".to_owned()),
        Just("/api/bars".to_owned()),
        Just("/api/variants".to_owned()),
        Just("/api/snapshot/v1".to_owned()),
        "[a-zA-Z0-9%._~-]{0,70}".prop_map(|v| format!("/api/events/{v}")),
        "[a-zA-Z0-9%._~-]{0,70}".prop_map(|v| format!("/api/snapshot/{v}")),
    ]
}

#[test]
fn mysql_no_query_yields_a_server_error() {
    no_query_yields_a_server_error(Backend::MySql);
}

#[test]
fn postgres_no_query_yields_a_server_error() {
    no_query_yields_a_server_error(Backend::Postgres);
}

#[test]
fn sqlite_no_query_yields_a_server_error() {
    no_query_yields_a_server_error(Backend::Sqlite);
}

fn no_query_yields_a_server_error(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = rt.block_on(spawn_app(backend));
    let http = reqwest::Client::new();
    let config = ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        path in path(),
        pairs in proptest::collection::vec((proptest::sample::select(KEYS), value()), 0..5),
    )| {
        let query = serde_urlencoded::to_string(&pairs).expect("encode");
        let url = format!("{}{path}?{query}", app.base);
        let (status, body) = rt.block_on(async {
            let resp = http.get(&url).send().await.expect("request");
            let status = resp.status();
            (status, resp.text().await.unwrap_or_default())
        });
        prop_assert!(status.as_u16() < 500, "{url} -> {status}: {body}");
        let json: Value = serde_json::from_str(&body).map_err(|e| {
            TestCaseError::fail(format!("{url} -> {status}: not JSON ({e}): {body}"))
        })?;
        if !status.is_success() {
            prop_assert!(json["error"]["code"].is_string(), "{url}: {body}");
        }
    });
    rt.block_on(app.finish());
}
