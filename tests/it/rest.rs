//! REST first-paint API: every endpoint and every bad-input case, on every backend.

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use signalgate::{
    domain::{Interval, VtSymbol},
    store::{NewBar, StoredBar},
};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        proxy::Proxy,
        spawn_app, spawn_app_with, unique, wait_for,
        writer::{Writer, ev},
    },
};

backend_tests!(
    first_paint_endpoints,
    bad_input_gets_4xx_naming_the_parameter,
    health_endpoints,
    dropped_tables_are_503_everywhere
);

fn is_rfc3339_micros(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && s.len() == "2024-05-01T09:30:00.000000Z".len())
}

async fn first_paint_endpoints(b: Backend) {
    let db = TestDb::create(b).await;
    let app = spawn_app_with(db, |c| c.database.bars_timezone = "Asia/Shanghai".into()).await;
    let w = Writer::connect(&app.db, 2).await;
    let v = unique("fp");

    // --- snapshots and variants
    w.snapshot(
        &v,
        "i1",
        &json!({"instruments": [{"vt_symbol": "rb2405.SHFE"}]}),
    )
    .await;
    w.snapshot(&v, "i2", &json!({"k": 1})).await;
    w.snapshot(&v, "i2", &json!({"k": 2})).await;
    let body = wait_for(
        "both snapshots in memory",
        Duration::from_secs(15),
        || async {
            let (s, b) = app.get(&format!("/api/snapshot/{v}")).await;
            (s == StatusCode::OK && b["snapshots"].as_array().is_some_and(|a| a.len() == 2))
                .then_some(b)
        },
    )
    .await;
    assert_eq!(body["variant"], v.as_str());
    let i2 = wait_for("i2 at version 2", Duration::from_secs(15), || async {
        let (_, b) = app.get(&format!("/api/snapshot/{v}?instance_id=i2")).await;
        (b["snapshots"][0]["version"] == 2).then_some(b)
    })
    .await;
    let s = &i2["snapshots"][0];
    assert_eq!(i2["snapshots"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["payload"], json!({"k": 2}));
    assert!(is_rfc3339_micros(&s["updated_at"]), "{s}");
    assert_eq!(s["bar_interval"], "1m");
    assert_eq!(s["bar_window"], 1);
    assert!(s["bar_dt"].is_null());

    let (status, body) = app.get(&format!("/api/snapshot/{}", unique("none"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app
        .get(&format!("/api/snapshot/{v}?instance_id=nope"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = app.get("/api/variants").await;
    assert_eq!(status, StatusCode::OK);
    let entry = body["variants"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["variant"] == v.as_str()))
        .cloned()
        .expect("variant listed");
    assert_eq!(entry["instances"], json!(["i1", "i2"]));
    assert!(is_rfc3339_micros(&entry["updated_at"]));

    // --- events
    let e1 = ev(&v, 1, "rb2405.SHFE");
    let e2 = ev(&v, 2, "IF2406.CFFEX");
    let mut e3 = ev(&v, 3, "rb2405.SHFE");
    e3.event_type = "alert".into();
    for e in [&e1, &e2, &e3] {
        assert_eq!(w.event(e).await, 1);
    }
    // Served once the gateway has numbered them (within a poll or two).
    w.seqs(&v).await;
    let (status, body) = app.get(&format!("/api/events/{v}")).await;
    assert_eq!(status, StatusCode::OK);
    let events = body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 3);
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(body["next_after_seq"], 3);
    let e = &events[0];
    assert_eq!(e["event_key"], e1.event_key.as_str());
    assert_eq!(e["variant"], v.as_str());
    assert_eq!(e["instance_id"], "inst-01");
    assert_eq!(e["vt_symbol"], "rb2405.SHFE");
    assert_eq!(e["event_type"], "signal");
    assert_eq!(e["payload"]["n"], 1);
    assert!(e["id"].as_i64().is_some());
    assert!(is_rfc3339_micros(&e["created_at"]) && is_rfc3339_micros(&e["bar_dt"]));

    let count = |b: &Value| b["events"].as_array().map_or(0, Vec::len);
    let (_, b) = app.get(&format!("/api/events/{v}?type=alert")).await;
    assert_eq!((count(&b), b["events"][0]["seq"].clone()), (1, json!(3)));
    let (_, b) = app
        .get(&format!("/api/events/{v}?vt_symbol=rb2405.SHFE"))
        .await;
    assert_eq!(count(&b), 2);
    let (_, b) = app
        .get(&format!(
            "/api/events/{v}?vt_symbol=rb2405.SHFE,IF2406.CFFEX&after_seq=1"
        ))
        .await;
    assert_eq!(count(&b), 2);
    let (_, b) = app.get(&format!("/api/events/{v}?limit=1")).await;
    assert_eq!((count(&b), b["next_after_seq"].clone()), (1, json!(1)));
    let (_, b) = app.get(&format!("/api/events/{v}?after_seq=3")).await;
    assert_eq!((count(&b), b["next_after_seq"].clone()), (0, json!(3)));
    // bar_dt of ev(n) is 2024-05-01T08:00Z + n minutes
    let (_, b) = app
        .get(&format!(
            "/api/events/{v}?time_field=bar_dt&start=2024-05-01T08:02:00Z&end=2024-05-01T08:02:00Z"
        ))
        .await;
    assert_eq!((count(&b), b["events"][0]["seq"].clone()), (1, json!(2)));
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (_, b) = app
        .get(&format!(
            "/api/events/{v}?start={now}&end=2999-01-01T00:00:00Z"
        ))
        .await;
    assert!(count(&b) <= 3);
    let (_, b) = app
        .get(&format!("/api/events/{v}?end=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(count(&b), 0);

    // --- bars (naive Asia/Shanghai times in dbbardata, served as UTC)
    let sym = VtSymbol::parse("rb2405.SHFE").expect("symbol");
    let t0 = NaiveDateTime::parse_from_str("2024-05-01 09:30:00", "%Y-%m-%d %H:%M:%S").expect("t0");
    for i in 0..10 {
        let p = 100.0 + f64::from(i);
        app.store
            .upsert_bar(&NewBar {
                vt_symbol: sym.clone(),
                interval: Interval::Minute,
                bar: StoredBar {
                    datetime: t0 + chrono::Duration::minutes(i64::from(i)),
                    open: p,
                    high: p + 2.0,
                    low: p - 1.0,
                    close: p + 1.0,
                    volume: 10.0,
                    turnover: 1000.0,
                    open_interest: 5.0,
                },
            })
            .await
            .expect("bar");
    }
    let (status, b) = app.get("/api/bars?vt_symbol=rb2405.SHFE&interval=1m").await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["vt_symbol"], "rb2405.SHFE");
    assert_eq!(b["interval"], "1m");
    let bars = b["bars"].as_array().cloned().unwrap_or_default();
    assert_eq!(bars.len(), 10);
    assert_eq!(bars[0]["datetime"], "2024-05-01T01:30:00.000000Z");
    assert_eq!(bars[0]["open"], 100.0);
    assert_eq!(bars[9]["close"], 110.0);
    let (_, b) = app
        .get("/api/bars?vt_symbol=rb2405.SHFE&interval=1m&limit=3")
        .await;
    let latest: Vec<Value> = b["bars"].as_array().cloned().unwrap_or_default();
    assert_eq!(latest.len(), 3);
    assert_eq!(latest[2]["datetime"], "2024-05-01T01:39:00.000000Z");
    let (_, b) = app
        .get("/api/bars?vt_symbol=rb2405.SHFE&interval=1m&start=2024-05-01T01:32:00Z&end=2024-05-01T01:34:00Z")
        .await;
    assert_eq!(b["bars"].as_array().map(Vec::len), Some(3));
    assert_eq!(b["bars"][0]["datetime"], "2024-05-01T01:32:00.000000Z");
    let (_, b) = app
        .get("/api/bars?vt_symbol=rb2405.SHFE&interval=1m&max_points=4")
        .await;
    let buckets = b["bars"].as_array().cloned().unwrap_or_default();
    assert_eq!(buckets.len(), 4); // 10 bars in buckets of 3: 3+3+3+1
    assert_eq!(buckets[0]["open"], 100.0);
    assert_eq!(buckets[0]["high"], 104.0);
    assert_eq!(buckets[0]["low"], 99.0);
    assert_eq!(buckets[0]["close"], 103.0);
    assert_eq!(buckets[0]["volume"], 30.0);
    let (_, b) = app.get("/api/bars?vt_symbol=rb2405.SHFE&interval=1h").await;
    assert_eq!(b["bars"], json!([]));
    app.finish().await;
}

async fn bad_input_gets_4xx_naming_the_parameter(b: Backend) {
    let app = spawn_app(b).await;
    let long = "x".repeat(65);
    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (
            "/api/events/v?start=yesterday".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "start",
        ),
        (
            "/api/events/v?end=2024-13-01".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "end",
        ),
        (
            "/api/events/v?start=2024-02-01&end=2024-01-01".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "end",
        ),
        (
            "/api/events/v?limit=0".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "limit",
        ),
        (
            "/api/events/v?limit=5001".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "limit",
        ),
        (
            "/api/events/v?limit=ten".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "limit",
        ),
        (
            "/api/events/v?after_seq=abc".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "after_seq",
        ),
        (
            "/api/events/v?after_seq=-1".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "after_seq",
        ),
        (
            "/api/events/v?type=trade".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "type",
        ),
        (
            "/api/events/v?time_field=updated_at".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "time_field",
        ),
        (
            "/api/events/v?vt_symbol=rb2405".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "vt_symbol",
        ),
        (
            format!("/api/events/{long}"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "variant",
        ),
        (
            "/api/events/a%07b".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "control",
        ),
        (
            "/api/snapshot/a%0Ab".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "variant",
        ),
        (
            format!("/api/snapshot/{long}"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "variant",
        ),
        (
            format!("/api/snapshot/v?instance_id={long}"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "instance_id",
        ),
        (
            "/api/bars".into(),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
            "vt_symbol",
        ),
        (
            "/api/bars?vt_symbol=rb2405.SHFE".into(),
            StatusCode::BAD_REQUEST,
            "missing_parameter",
            "interval",
        ),
        (
            "/api/bars?vt_symbol=rb2405.SHFE&interval=2m".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "interval",
        ),
        (
            "/api/bars?vt_symbol=rb2405&interval=1m".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "vt_symbol",
        ),
        (
            "/api/bars?vt_symbol=rb2405.SHFE&interval=1m&max_points=0".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "max_points",
        ),
        (
            "/api/bars?vt_symbol=rb2405.SHFE&interval=1m&limit=100001".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "limit",
        ),
        (
            "/api/bars?vt_symbol=rb2405.SHFE&interval=1m&start=nope".into(),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "start",
        ),
        (
            "/api/no/such/route".into(),
            StatusCode::NOT_FOUND,
            "not_found",
            "/api/no/such/route",
        ),
    ];
    for (path, status, code, needle) in cases {
        let (got, body) = app.get(&path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(needle),
            "{path}: message {msg:?} should mention {needle:?}"
        );
    }
    app.finish().await;
}

async fn health_endpoints(b: Backend) {
    let app = spawn_app(b).await;
    let (s, body) = app.get("/healthz").await;
    assert_eq!((s, body["status"].clone()), (StatusCode::OK, json!("ok")));
    let (s, body) = app.get("/readyz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body["database"],
        match b {
            Backend::MySql => "mysql",
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    );
    app.finish().await;
}

/// With the database gone, data endpoints answer 503 in the error shape; once it is back they
/// recover. (SQLite is embedded: there is no server to lose.)
async fn database_unreachable_is_503(b: Backend) {
    let db = TestDb::create(b).await;
    // Migrate directly, then run the gateway through a proxy we can cut.
    let direct = spawn_app_with(db.clone(), |_| {}).await;
    let proxy = Proxy::start(db.server.clone().expect("server")).await;
    let mut via = db.clone();
    via.url = db.url_via(&proxy.addr);
    let app = spawn_app_with(via, |c| c.database.db_acquire_timeout_ms = 1000).await;
    let (s, _) = app.get("/readyz").await;
    assert_eq!(s, StatusCode::OK);
    proxy.down();
    for path in [
        "/readyz",
        "/api/variants",
        "/api/events/v",
        "/api/bars?vt_symbol=a.B&interval=1m",
    ] {
        let (s, body) = app.get(path).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"]["code"], "database_unavailable", "{path}");
    }
    proxy.up();
    wait_for(
        "readyz after the database is back",
        Duration::from_secs(20),
        || async { (app.get("/readyz").await.0 == StatusCode::OK).then_some(()) },
    )
    .await;
    let mut app = app;
    app.stop().await;
    direct.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_database_unreachable_is_503() {
    database_unreachable_is_503(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_database_unreachable_is_503() {
    database_unreachable_is_503(Backend::Postgres).await;
}

/// SQLite stores JSON as text, so a writer can store something that is not JSON: it is served
/// under `payload_raw` (and logged), never as a 500. MySQL's JSON and PostgreSQL's JSONB reject
/// such rows at write time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_invalid_payload_is_served_raw() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = Writer::connect(&app.db, 1).await;
    w.exec("INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES ('bad', 'i', 'a.B', NULL, 'alert', 'k1', '2024-05-01 00:00:00.000000', '{not json')").await;
    w.exec("INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, payload_json) VALUES ('bad', 'i', '2024-05-01 00:00:00.000000', 'oops')").await;
    w.seqs("bad").await;
    let (s, b) = app.get("/api/events/bad").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["events"][0]["payload"].is_null());
    assert_eq!(b["events"][0]["payload_raw"], "{not json");
    assert_eq!(b["events"][0]["seq"], 1);
    let b = wait_for("raw snapshot", Duration::from_secs(15), || async {
        let (s, b) = app.get("/api/snapshot/bad").await;
        (s == StatusCode::OK).then_some(b)
    })
    .await;
    assert_eq!(b["snapshots"][0]["payload_raw"], "oops");
    app.finish().await;
}

/// The embedded dashboard: `/` is the page, every module it imports is served as JavaScript,
/// and a revalidation with the `ETag` gets 304. (The browser tests in `web/e2e/` drive it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_dashboard_assets_are_served() {
    let app = spawn_app(Backend::Sqlite).await;
    let get = |path: String, etag: Option<reqwest::header::HeaderValue>| {
        let mut req = app.http.get(format!("{}{path}", app.base));
        if let Some(etag) = etag {
            req = req.header("if-none-match", etag);
        }
        async move { req.send().await.expect("request") }
    };
    let page = get("/".into(), None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.expect("body");
    assert!(
        html.contains(r#"<script type="module" src="js/app.js">"#),
        "{html}"
    );
    let app_js = get("/js/app.js".into(), None)
        .await
        .text()
        .await
        .expect("body");
    let imports: Vec<String> = app_js
        .lines()
        .filter_map(|l| l.strip_prefix("import ")?.split('"').nth(1))
        .map(|i| match i.strip_prefix("../") {
            Some(rest) => format!("/{rest}"),
            None => format!("/js/{}", i.trim_start_matches("./")),
        })
        .collect();
    assert!(imports.len() >= 8, "{imports:?}");
    for path in imports {
        let resp = get(path.clone(), None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ctype = &resp.headers()["content-type"];
        assert_eq!(ctype, "text/javascript; charset=utf-8", "{path}");
    }
    let etag = get("/app.css".into(), None).await.headers()["etag"].clone();
    let again = get("/app.css".into(), Some(etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    for path in ["/favicon.ico", "/favicon.svg"] {
        let icon = get(path.into(), None).await;
        assert_eq!(icon.status(), StatusCode::OK, "{path}");
        assert_eq!(icon.headers()["content-type"], "image/svg+xml", "{path}");
        assert!(
            icon.text().await.expect("body").starts_with("<svg"),
            "{path}"
        );
    }
    let missing = get("/js/nope.js".into(), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.finish().await;
}

/// The routes a dashboard calls; every one must answer 503 `database_unavailable` when the
/// database is not available, whatever the reason.
const DB_ROUTES: &[&str] = &[
    "/api/variants",
    "/api/events/v",
    "/api/bars?vt_symbol=a.B&interval=1m",
];

async fn assert_all_unavailable(app: &crate::common::app::TestApp, why: &str, routes: &[&str]) {
    for path in routes {
        let (s, body) = app.get(path).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{why}: {path}: {body}");
        assert_eq!(
            body["error"]["code"], "database_unavailable",
            "{why}: {path}"
        );
    }
    let started = std::time::Instant::now();
    let (s, _) = app.get("/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{why}: /readyz");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{why}: /readyz took {:?}",
        started.elapsed()
    );
}

/// Tables dropped under a running gateway: every route is 503, and /readyz says so promptly.
async fn dropped_tables_are_503_everywhere(b: Backend) {
    let app = spawn_app_with(TestDb::create(b).await, |c| {
        c.database.db_acquire_timeout_ms = 10_000;
    })
    .await;
    // Every migration down, whatever the newest is.
    while app.store.migrate_down().await.expect("migrate down") {}
    // VnPy's bar tables are never dropped by `migrate --down`: bars keep working.
    assert_all_unavailable(&app, "tables dropped", &DB_ROUTES[..2]).await;
    let (s, _) = app.get(DB_ROUTES[2]).await;
    assert_eq!(s, StatusCode::OK, "bars still served");
    app.store.migrate().await.expect("migrate again");
    wait_for("ready again", Duration::from_secs(30), || async {
        (app.get("/readyz").await.0 == StatusCode::OK).then_some(())
    })
    .await;
    app.finish().await;
}

/// Credentials the server refuses: 503 on every route, never 500.
async fn refused_credentials_are_503_everywhere(b: Backend) {
    let db = TestDb::create(b).await;
    let mut config = crate::common::app::test_config(&db);
    let bad = match b {
        Backend::MySql => db.url.replacen("root@", "root:wrong-password@", 1),
        _ => db.url.replacen("postgres@", "no_such_role@", 1),
    };
    config.database.database_url = Some(signalgate::config::DatabaseUrl::new(bad));
    config.database.db_acquire_timeout_ms = 10_000;
    let app = signalgate::Application::build(
        config,
        signalgate::BuildOptions {
            migrate: false,
            demo: None,
        },
    )
    .await
    .expect("builds without the database");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    for path in DB_ROUTES
        .iter()
        .chain(["/readyz", "/api/snapshot/v"].iter())
    {
        let resp = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"]["code"], "database_unavailable", "{path}");
    }
    let _ = stop.send(());
    let _ = server.await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_refused_credentials_are_503_everywhere() {
    refused_credentials_are_503_everywhere(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_refused_credentials_are_503_everywhere() {
    refused_credentials_are_503_everywhere(Backend::Postgres).await;
}

/// A poller that stops completing polls (wedged) turns `/readyz` to 503 `not_ready` once its
/// last poll is older than the bound, although the database still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wedged_poller_is_not_ready() {
    use std::sync::Arc;

    use signalgate::{
        http::{AppState, router},
        poller::PollerStatus,
        realtime::hub::{Hub, HubLimits},
    };
    use tower::ServiceExt;

    let db = TestDb::create(Backend::Sqlite).await;
    let store = signalgate::store::connect(
        &db.url,
        &signalgate::store::PoolOptions {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("store");
    store.migrate().await.expect("migrate");
    let hub = Arc::new(Hub::new(
        store.clone(),
        HubLimits {
            ring_capacity: 16,
            history_budget: 1 << 20,
            resume_cap: 16,
            max_subscriptions: 4,
            max_symbols: 4,
        },
    ));
    hub.load().await.expect("load");
    let status = Arc::new(PollerStatus::default());
    let app = router(AppState {
        store: store.clone(),
        hub,
        bars_tz: chrono_tz::UTC,
        overview_interval_ms: 1000,
        poller: status.clone(),
        poll_stale_after: Duration::from_millis(300),
        auth: None,
        rate_limit: None,
        group: Default::default(),
        fault: Default::default(),
    });
    let readyz = || async {
        let req = axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        let json: Value = serde_json::from_slice(&body).expect("json");
        (status, json)
    };
    let (s, body) = readyz().await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "never polled: {body}");
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    status.mark_ok();
    let (s, body) = readyz().await;
    assert_eq!(s, StatusCode::OK, "just polled: {body}");
    // No further polls: within a few bounds it must turn not ready.
    let body = wait_for(
        "readyz to notice the wedged poller",
        Duration::from_secs(10),
        || async {
            let (s, body) = readyz().await;
            (s == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
        },
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("poller")),
        "{body}"
    );
    store.close().await;
}
