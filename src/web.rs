//! The dashboard and the JS client helper, embedded in the binary at build time (no npm at
//! build or run time): `/` is the dashboard (`web/index.html`), the other paths mirror `web/`
//! (`/app.css`, `/js/*.js`, `/vendor/*`, `/favicon.svg`, also served as `/favicon.ico`), and
//! `/signalgate-client.js` is the npm package's source, `clients/js/signalgate-client.js`. Each
//! response carries an
//! `ETag` (a hash of the embedded bytes) and `Cache-Control: no-cache`, so browsers revalidate
//! and get `304 Not Modified` until the binary changes.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// `(path under web/ [in another folder of the repository], content type)`, embedded by
/// `assets!`.
macro_rules! assets {
    ($($path:literal $(in $dir:literal)? => $ctype:expr),* $(,)?) => {
        &[$(($path, $ctype, include_bytes!(concat!("../", assets!(@dir $($dir)?), $path)) as &[u8])),*]
    };
    (@dir) => { "web/" };
    (@dir $dir:literal) => { $dir };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every embedded file: URL path (under `web/` unless `in` names another folder), content type,
/// bytes.
const ASSETS: &[(&str, &str, &[u8])] = assets![
    "index.html" => "text/html; charset=utf-8",
    "app.css" => "text/css; charset=utf-8",
    // The npm package's source (clients/js/), so the served helper and the package cannot drift.
    "signalgate-client.js" in "clients/js/" => JS,
    "js/alerts.js" => JS,
    "js/app.js" => JS,
    "js/api.js" => JS,
    "js/auth.js" => JS,
    "js/bars.js" => JS,
    "js/chart.js" => JS,
    "js/columns.js" => JS,
    "js/connection.js" => JS,
    "js/feed.js" => JS,
    "js/prefs.js" => JS,
    "js/settings.js" => JS,
    "js/sidebar.js" => JS,
    "js/signin.js" => JS,
    "js/stale.js" => JS,
    "js/table.js" => JS,
    "js/util.js" => JS,
    "vendor/socket.io.esm.min.js" => JS,
    "vendor/lightweight-charts.mjs" => JS,
    "favicon.svg" => "image/svg+xml",
];

/// Extra paths served by an embedded file: browsers ask for `/favicon.ico` by default.
const ALIASES: &[(&str, &str)] = &[("/favicon.ico", "favicon.svg")];

/// One embedded file, ready to serve.
#[derive(Clone)]
struct Asset {
    content_type: &'static str,
    body: &'static [u8],
    etag: HeaderValue,
}

impl Asset {
    fn new(content_type: &'static str, body: &'static [u8]) -> Self {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Self {
            content_type,
            body,
            etag,
        }
    }

    fn respond(&self, request: &HeaderMap) -> Response {
        let headers = [
            (header::ETAG, self.etag.clone()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ];
        if request.get(header::IF_NONE_MATCH) == Some(&self.etag) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (
            headers,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// Routes for the embedded assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            let asset = Asset::new(content_type, body);
            let route = if path == "index.html" {
                "/".to_owned()
            } else {
                format!("/{path}")
            };
            let aliases = ALIASES.iter().filter(|(_, to)| *to == path);
            std::iter::once(route.as_str())
                .chain(aliases.map(|(from, _)| *from))
                .fold(router, |router, route| {
                    let asset = asset.clone();
                    router.route(
                        route,
                        get(move |headers: HeaderMap| async move { asset.respond(&headers) }),
                    )
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module added to web/js/ but not to ASSETS would be a 404 in the browser.
    #[test]
    fn every_dashboard_module_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/js");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("web/js exists") {
            let name = entry.expect("readable entry").file_name();
            let path = format!("js/{}", name.to_string_lossy());
            if path.ends_with(".js") && !ASSETS.iter().any(|(p, ..)| *p == path) {
                missing.push(path);
            }
        }
        assert!(
            missing.is_empty(),
            "not embedded in src/web.rs: {missing:?}"
        );
    }

    #[test]
    fn etag_revalidation_answers_304() {
        let asset = Asset::new(JS, b"export {}");
        assert_eq!(asset.respond(&HeaderMap::new()).status(), StatusCode::OK);
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, asset.etag.clone());
        assert_eq!(asset.respond(&headers).status(), StatusCode::NOT_MODIFIED);
    }
}
