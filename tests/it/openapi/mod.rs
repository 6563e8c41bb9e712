//! The OpenAPI document at `/api/openapi.json`: it is OpenAPI 3.1, served without a token,
//! equal to the one built from the code, and it describes what the router really does — every
//! documented route answers, an undocumented one is a 404, each route's query parameters are
//! exactly the documented ones, documented bounds and enums are the ones enforced, and real
//! responses of a demo-data gateway (200s and errors) validate against the documented schemas,
//! on every backend.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use signalgate::{
    auth::{JwtSecret, mint},
    config::DemoArgs,
};

mod doc;
mod responses;
mod routes;

use doc::query_params;

use crate::common::{Backend, TestDb, app::TestApp, app::spawn_app_with_demo, wait_for};

const SECRET: &str = "openapi-secret-0123456789-abcdef";
/// A variant, symbol and interval the demo writer fills.
const VARIANT: &str = "trend_follow_v1";
const SYMBOL: &str = "rb2405.SHFE";

/// Every route the router serves, as the document must list them.
const ROUTES: [&str; 9] = [
    "/api/bars",
    "/api/config",
    "/api/events/{variant}",
    "/api/openapi.json",
    "/api/overview",
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
