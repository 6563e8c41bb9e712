//! Real responses of a demo-data gateway (200s and errors of every route) validate against the
//! schema the document gives for that route and status.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{SYMBOL, VARIANT, demo_app, doc::body_validator, document, send, token};
use crate::{backend_tests, common::Backend};

backend_tests!(real_responses_match_the_document);

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
            format!("/api/bars?vt_symbol={SYMBOL}&interval=15m&limit=3"),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/overview",
            "/api/overview".into(),
            Some(&all),
            StatusCode::OK,
        ),
        (
            "/api/overview",
            "/api/overview?x=1".into(),
            Some(&all),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/config",
            "/api/config".into(),
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
