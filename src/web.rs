//! Static web assets, embedded in the binary: the JS client helper (`/signalgate-client.js`)
//! and a landing page. The dashboard issue adds the full dashboard here.

use axum::{Router, http::header, response::Html, routing::get};

const CLIENT_JS: &str = include_str!("../web/signalgate-client.js");

const INDEX: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>signalgate</title></head>
<body><h1>signalgate</h1><p>Real-time gateway for strategy snapshots and events.</p>
<ul><li><a href="/api/variants">/api/variants</a></li><li><a href="/healthz">/healthz</a></li>
<li><a href="/readyz">/readyz</a></li><li><a href="/signalgate-client.js">/signalgate-client.js</a> (Socket.IO client helper)</li></ul>
</body></html>"#;

/// Routes for the embedded assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route(
            "/signalgate-client.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CLIENT_JS,
                )
            }),
        )
}
