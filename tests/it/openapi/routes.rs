//! The document lists exactly the routes the router serves, with the security, query
//! parameters, bounds and enums the routes really enforce.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use super::{
    ROUTES, demo_app,
    doc::{collect_refs, param_schema, query_params},
    document, sample_url, send, token,
};
use crate::{backend_tests, common::Backend};

backend_tests!(document_describes_the_served_routes);

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
