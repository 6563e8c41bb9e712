//! `/metrics`: the series move when traffic flows (events, snapshots, sockets, subscriptions,
//! REST requests, polls), variant labels only for variants in the database, and the separate
//! `--metrics-listen` listener.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::{build, test_config},
        sio::Sio,
        spawn_app, unique, wait_for,
        writer::{Writer, ev},
    },
};

backend_tests!(metrics_move_with_traffic);

/// The value of the first sample whose name-and-labels text is `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.expect("text")
}

async fn metrics_move_with_traffic(backend: Backend) {
    let app = spawn_app(backend).await;
    let v = unique("met");
    let w = Writer::connect(&app.db, 2).await;
    w.event(&ev(&v, 0, "rb2405.SHFE")).await;
    let mut c = Sio::connect(&app.base).await;
    let ack = c.subscribe(json!({"variant": v, "since_seq": 0})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    for n in 1..=5 {
        w.event(&ev(&v, n, "rb2405.SHFE")).await;
    }
    w.snapshot(&v, "i1", &json!({"k": 1})).await;
    c.events_until(Duration::from_secs(20), |e| e.len() >= 5)
        .await;
    assert_eq!(app.get("/api/variants").await.0, StatusCode::OK);

    let label = format!("{{variant=\"{v}\"}}");
    let text = wait_for("the series to move", Duration::from_secs(20), || async {
        let text = scrape(&app.http, &app.base).await;
        let emitted = sample(&text, &format!("signalgate_events_emitted_total{label}"));
        let snaps = sample(&text, &format!("signalgate_snapshots_emitted_total{label}"));
        // Lag is sampled when a poll begins: the poll after the last event reads 0. Another
        // test's gateway in this process may scrape meanwhile (the recorder is process-wide).
        let subs = sample(&text, &format!("signalgate_subscriptions{label}"));
        let lag = sample(&text, &format!("signalgate_event_lag{label}"));
        (emitted.unwrap_or(0.0) >= 6.0
            && snaps.unwrap_or(0.0) >= 1.0
            && subs == Some(1.0)
            && lag == Some(0.0))
        .then_some(text)
    })
    .await;
    for series in [
        "signalgate_connected_sockets",
        "signalgate_group_role{role=\"standalone\"}",
        "signalgate_messages_delivered_total",
        "signalgate_poll_duration_seconds_count",
        "signalgate_commit_to_emit_seconds_count",
        "signalgate_http_requests_total{route=\"/api/variants\",status=\"200\"}",
        "signalgate_http_request_duration_seconds_count{route=\"/api/variants\"}",
    ] {
        let value = sample(&text, series).unwrap_or_else(|| panic!("{series} missing:\n{text}"));
        assert!(value >= 1.0, "{series} = {value}");
    }
    // The rings' memory (a gauge other gateways in this process may also set: presence only).
    assert!(
        sample(&text, "signalgate_history_bytes").is_some(),
        "{text}"
    );
    // A name the database does not have never becomes a label.
    let made_up = unique("nosuch");
    let ack = c.subscribe(json!({"variant": made_up})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    wait_for("_other to count it", Duration::from_secs(20), || async {
        let text = scrape(&app.http, &app.base).await;
        assert!(!text.contains(&made_up), "unbounded label {made_up}");
        let other = sample(&text, "signalgate_subscriptions{variant=\"_other\"}");
        (other.unwrap_or(0.0) >= 1.0).then_some(())
    })
    .await;
    c.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_listen_serves_metrics_apart() {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.metrics.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    let app = build(config).await;
    let main = format!("http://{}", app.local_addr().expect("addr"));
    let apart = format!("http://{}", app.metrics_addr().expect("metrics addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let text = scrape(&http, &apart).await;
    assert!(text.contains("signalgate_connected_sockets"), "{text}");
    let on_main = http
        .get(format!("{main}/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        on_main.status(),
        StatusCode::NOT_FOUND,
        "not on the main listener"
    );
    let _ = tx.send(());
    task.await.expect("join").expect("clean stop");
    // The separate listener stops with the gateway.
    assert!(http.get(format!("{apart}/metrics")).send().await.is_err());
    db.drop_db().await;
}
