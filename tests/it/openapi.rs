//! The OpenAPI document at `/api/openapi.json`: it is OpenAPI 3.1, served without a token,
//! equal to the one built from the code, and it describes what the router really does — every
//! documented route answers, an undocumented one is a 404, each route's query parameters are
//! exactly the documented ones, documented bounds and enums are the ones enforced, and real
//! responses of a demo-data gateway (200s and errors) validate against the documented schemas,
//! on every backend.

use std::{collections::BTreeSet, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use signalgate::{
    auth::{JwtSecret, mint},
    config::DemoArgs,
};

use crate::{
    backend_tests,
    common::{Backend, TestDb, app::TestApp, app::spawn_app_with_demo, wait_for},
};

backend_tests!(
    document_describes_the_served_routes,
    real_responses_match_the_document
);

const SECRET: &str = "openapi-secret-0123456789-abcdef";
/// A variant, symbol and interval the demo writer fills.
const VARIANT: &str = "trend_follow_v1";
const SYMBOL: &str = "rb2405.SHFE";

/// Every route the router serves, as the document must list them.
const ROUTES: [&str; 7] = [
    "/api/bars",
    "/api/events/{variant}",
    "/api/openapi.json",
    "/api/snapshot/{variant}",
    "/api/variants",
    "/healthz",
    "/readyz",
];

fn token(variants: &[&str]) -> String {
    let variants = variants.iter().map(|v| (*v).to_owned()).collect();
    mint(
        &JwtSecret::new(SECRET),
        "openapi-test",
        variants,
        Duration::from_secs(600),
    )
    .expect("mint")
}

/// A gateway with authentication on and the demo writer running, once the demo's snapshots,
/// events and bars can be read.
async fn demo_app(b: Backend) -> TestApp {
    let db = TestDb::create(b).await;
    let demo = DemoArgs {
        demo_tick_ms: 100,
        demo_history: 30,
        demo_ticks: 0,
    };
    let app = spawn_app_with_demo(db, Some(demo), |c| {
        c.auth.jwt_secret = Some(JwtSecret::new(SECRET));
    })
    .await;
    let bearer = token(&["*"]);
    for path in [
        format!("/api/snapshot/{VARIANT}"),
        format!("/api/events/{VARIANT}?limit=1"),
        format!("/api/bars?vt_symbol={SYMBOL}&interval=1m&limit=1"),
    ] {
        wait_for(
            &format!("demo data at {path}"),
            Duration::from_secs(30),
            || {
                let (app, path, bearer) = (&app, &path, &bearer);
                async move {
                    let (status, body) = send(app, Method::GET, path, Some(bearer)).await;
                    let non_empty = ["snapshots", "events", "bars"]
                        .iter()
                        .any(|k| body[*k].as_array().is_some_and(|a| !a.is_empty()));
                    (status == StatusCode::OK && non_empty).then_some(())
                }
            },
        )
        .await;
    }
    app
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = app.http.request(method, format!("{}{path}", app.base));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.json::<Value>().await.expect("a JSON body");
    assert!(
        content_type.starts_with("application/json"),
        "{path}: content-type {content_type}"
    );
    (status, body)
}

async fn document(app: &TestApp) -> Value {
    let (status, doc) = send(app, Method::GET, "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK, "the document needs no token: {doc}");
    doc
}

/// Follows a top-level `$ref` (`#/components/...`) within `doc`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).expect("a $ref into the document"),
        None => v,
    }
}

/// The `in: query` parameters of `GET path`, resolved.
fn query_params<'a>(doc: &'a Value, path: &str) -> Vec<&'a Value> {
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

/// `template` with its path parameter filled, plus the required query parameters.
fn sample_url(doc: &Value, template: &str, extra: &[(&str, String)]) -> String {
    let mut url = template.replace("{variant}", VARIANT);
    let mut query: Vec<(String, String)> = query_params(doc, template)
        .iter()
        .filter(|p| p["required"] == true)
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            let value = match name.as_str() {
                "vt_symbol" => SYMBOL,
                "interval" => "1m",
                other => panic!("no sample value for required parameter {other}"),
            };
            (name, value.to_owned())
        })
        .collect();
    query.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    if !query.is_empty() {
        url.push('?');
        url.push_str(&serde_urlencoded::to_string(&query).expect("query"));
    }
    url
}

/// The parameter's schema, with `type: [T, "null"]` and a top-level `$ref` resolved.
fn param_schema<'a>(doc: &'a Value, param: &'a Value) -> &'a Value {
    let schema = &param["schema"];
    let schema = schema["oneOf"]
        .as_array()
        .and_then(|alts| alts.iter().find(|s| s["type"] != "null"))
        .unwrap_or(schema);
    resolve(doc, schema)
}

async fn document_describes_the_served_routes(b: Backend) {
    let app = demo_app(b).await;
    let doc = document(&app).await;
    let bearer = token(&["*"]);

    // OpenAPI 3.1, and exactly the document the code builds.
    assert_eq!(doc["openapi"], "3.1.0");
    let built = serde_json::to_value(signalgate::http::openapi_document()).expect("document");
    assert_eq!(doc, built);
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(paths, BTreeSet::from(ROUTES));
    // Every reference resolves; operation ids are unique.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for r in &refs {
        let pointer = r.strip_prefix('#').expect("a local $ref");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    let ids: Vec<&str> = ROUTES
        .iter()
        .filter_map(|p| doc["paths"][p]["get"]["operationId"].as_str())
        .collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ROUTES.len(),
        "{ids:?}"
    );

    for template in ROUTES {
        let op = &doc["paths"][template]["get"];
        assert!(op.is_object(), "{template}: only GET is documented");
        let url = sample_url(&doc, template, &[]);
        // Every documented route is served, answers 200 with a token, refuses other methods.
        let (status, body) = send(&app, Method::GET, &url, Some(&bearer)).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        let (status, _) = send(&app, Method::POST, &url, Some(&bearer)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "POST {url}");
        // The documented security is the enforced one: a token is needed under /api only.
        let secured = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| r.contains_key("bearer")))
        });
        let (status, body) = send(&app, Method::GET, &url, None).await;
        if secured {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{url}: {body}");
            assert!(
                op["responses"]["401"].is_object(),
                "{template}: 401 undocumented"
            );
        } else {
            assert_eq!(status, StatusCode::OK, "{url} without a token: {body}");
        }
        assert_eq!(
            secured,
            template.starts_with("/api/") && template != "/api/openapi.json"
        );
    }
    let (status, body) = send(&app, Method::GET, "/api/nothing-here", Some(&bearer)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    for template in ROUTES
        .iter()
        .filter(|t| t.starts_with("/api/") && **t != "/api/openapi.json")
    {
        let params = query_params(&doc, template);
        // The route's own list of valid parameters (in its unknown_parameter error) is the
        // documented list.
        let url = sample_url(&doc, template, &[("zz_unknown", "1".into())]);
        let (status, body) = send(&app, Method::GET, &url, Some(&bearer)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["error"]["code"], "unknown_parameter", "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        let served: BTreeSet<&str> = message
            .split_once("valid parameters are ")
            .map(|(_, list)| list.split(", ").collect())
            .unwrap_or_default();
        let documented: BTreeSet<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(served, documented, "{template}: {message}");

        for param in params {
            let name = param["name"].as_str().unwrap_or_default();
            let schema = param_schema(&doc, param);
            // Documented integer bounds are the enforced ones.
            for (bound, step) in [("maximum", 1), ("minimum", -1)] {
                let Some(edge) = schema[bound].as_i64() else {
                    continue;
                };
                let url = sample_url(&doc, template, &[(name, edge.to_string())]);
                let (status, body) = send(&app, Method::GET, &url, Some(&bearer)).await;
                assert_eq!(status, StatusCode::OK, "{url}: {body}");
                let url = sample_url(&doc, template, &[(name, (edge + step).to_string())]);
                let (status, body) = send(&app, Method::GET, &url, Some(&bearer)).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
                assert_eq!(body["error"]["code"], "invalid_parameter", "{url}: {body}");
            }
            // Documented enums are the accepted values.
            if let Some(values) = schema["enum"].as_array() {
                for value in values {
                    let value = value.as_str().expect("string enum").to_owned();
                    let url = sample_url(&doc, template, &[(name, value)]);
                    let (status, body) = send(&app, Method::GET, &url, Some(&bearer)).await;
                    assert_eq!(status, StatusCode::OK, "{url}: {body}");
                }
                let url = sample_url(&doc, template, &[(name, "zz_not_a_value".into())]);
                let (status, body) = send(&app, Method::GET, &url, Some(&bearer)).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
            }
        }
    }
    app.finish().await;
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
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
fn body_validator(doc: &Value, template: &str, status: StatusCode) -> jsonschema::Validator {
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

async fn real_responses_match_the_document(b: Backend) {
    let app = demo_app(b).await;
    let doc = document(&app).await;
    let all = token(&["*"]);
    let other = token(&["someone_else"]);
    let v = VARIANT;
    // (documented route, request, token, expected status)
    let cases: Vec<(&str, String, Option<&str>, StatusCode)> = vec![
        (
            "/api/variants",
            "/api/variants".into(),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/variants",
            "/api/variants".into(),
            Some(&other),
            StatusCode::OK,
        ),
        (
            "/api/variants",
            "/api/variants?x=1".into(),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/variants",
            "/api/variants".into(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/snapshot/{variant}",
            format!("/api/snapshot/{v}"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/snapshot/{variant}",
            format!("/api/snapshot/{v}?instance_id=inst-01"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/snapshot/{variant}",
            "/api/snapshot/nope".into(),
            Some(&all),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/snapshot/{variant}",
            format!("/api/snapshot/{v}"),
            Some(&other),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/snapshot/{variant}",
            format!("/api/snapshot/{v}?instance_id=%07"),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/events/{variant}",
            format!("/api/events/{v}?limit=50"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/events/{variant}",
            format!("/api/events/{v}?type=signal&time_field=bar_dt&start=2000-01-01"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/events/{variant}",
            "/api/events/nope".into(),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/events/{variant}",
            format!("/api/events/{v}?limit=0"),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/events/{variant}",
            format!("/api/events/{v}?start=2024-02-01&end=2024-01-01"),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/events/{variant}",
            format!("/api/events/{v}"),
            Some(&other),
            StatusCode::FORBIDDEN,
        ),
        (
            "/api/events/{variant}",
            format!("/api/events/{v}"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/bars",
            format!("/api/bars?vt_symbol={SYMBOL}&interval=1m"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/bars",
            format!("/api/bars?vt_symbol={SYMBOL}&interval=1m&max_points=4"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/bars",
            "/api/bars?interval=1m".into(),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/bars",
            format!("/api/bars?vt_symbol={SYMBOL},au2406.SHFE&interval=1m"),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/openapi.json",
            "/api/openapi.json".into(),
            None,
            StatusCode::OK,
        ),
        ("/healthz", "/healthz".into(), None, StatusCode::OK),
        ("/readyz", "/readyz".into(), None, StatusCode::OK),
    ];
    for (template, url, bearer, expected) in cases {
        let (status, body) = send(&app, Method::GET, &url, bearer).await;
        assert_eq!(status, expected, "{url}: {body}");
        let validator = body_validator(&doc, template, status);
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{url} ({status}) does not match the document: {errors:?}\n{body}"
        );
    }
    // The bodies above were not trivially empty: the demo data is in them.
    let (_, events) = send(&app, Method::GET, &format!("/api/events/{v}"), Some(&all)).await;
    assert!(events["events"].as_array().is_some_and(|e| !e.is_empty()));
    // A body that breaks the schema is caught (the validator is not vacuous).
    let mut broken = events;
    broken["events"][0]["seq"] = json!("7");
    let validator = body_validator(&doc, "/api/events/{variant}", StatusCode::OK);
    assert!(!validator.is_valid(&broken));
    app.finish().await;
}
