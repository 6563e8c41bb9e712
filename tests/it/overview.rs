//! The overview of all variants, on every backend: 500 variants seeded, `GET /api/overview`
//! lists them all, a socket subscribed with `subscribe_overview` sees a changed variant's new
//! summary (and only changed variants) within a deadline; bad requests get error acks; with
//! authentication both transports show only granted variants.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    auth::{auth_app, token},
    backend_tests,
    common::{
        Backend, TestDb,
        sio::{Msg, Sio},
        spawn_app_with, unique, wait_for,
        writer::{Writer, ev},
    },
};

backend_tests!(
    overview_of_500_variants_over_rest_and_socket,
    overview_shows_only_granted_variants
);

const VARIANTS: usize = 500;
const WAIT: Duration = Duration::from_secs(30);

/// Two instruments, one with `dull_top` on (in `status`), one with `div_top` on (top level).
fn payload(extra: usize) -> Value {
    let mut instruments = serde_json::Map::new();
    instruments.insert("a.X".into(), json!({"status": {"dull_top": true}}));
    instruments.insert("b.X".into(), json!({"div_top": 1}));
    for i in 0..extra {
        instruments.insert(format!("e{i}.X"), json!({}));
    }
    json!({ "instruments": instruments })
}

/// The `variants` of an overview body, by name.
fn by_name(body: &Value) -> std::collections::BTreeMap<String, Value> {
    body["variants"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|s| (s["variant"].as_str().unwrap_or("").to_owned(), s.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for an `overview_update` holding `variant` for which `done` holds; returns it and
/// every update seen on the way.
async fn wait_update(
    sio: &mut Sio,
    variant: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sio.next(left).await {
            Some(Msg::Overview(u)) => {
                seen.push(u.clone());
                if let Some(s) = by_name(&u).get(variant).filter(|s| done(s)) {
                    return (s.clone(), seen);
                }
            }
            Some(Msg::Closed) | None => {
                panic!("no overview_update for {variant} within {WAIT:?}: {seen:?}")
            }
            Some(_) => {}
        }
    }
}

async fn overview_of_500_variants_over_rest_and_socket(backend: Backend) {
    let db = TestDb::create(backend).await;
    let app = spawn_app_with(db, |c| c.realtime.overview_interval_ms = 200).await;
    let prefix = unique("ov");
    let names: Vec<String> = (0..VARIANTS).map(|i| format!("{prefix}_{i:03}")).collect();
    let w = Writer::connect(&app.db, 8).await;
    let seed = payload(0);
    for chunk in names.chunks(50) {
        join_all(chunk.iter().map(|v| w.snapshot(v, "i1", &seed))).await;
    }
    let body = wait_for("500 variants in the overview", WAIT, || async {
        let (status, body) = app.get("/api/overview").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (by_name(&body).len() == VARIANTS).then_some(body)
    })
    .await;
    let listed: Vec<&str> = body["variants"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["variant"].as_str())
        .collect();
    assert_eq!(listed, names, "sorted by variant");
    let first = &by_name(&body)[&names[0]];
    assert_eq!(first["instances"], 1);
    assert_eq!(first["instruments"], 2);
    assert_eq!(
        first["lights"],
        json!({"dull_top": 1, "dull_bottom": 0, "div_top": 1, "div_bottom": 0})
    );
    assert_eq!(
        (first["bar_interval"].clone(), first["bar_window"].clone()),
        (json!("1m"), json!(1))
    );
    assert_eq!(first["last_seq"], 0);
    assert!(first["last_event"].is_null());
    assert!(
        first["updated_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (status, _) = app.get("/api/overview?x=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let mut sio = Sio::connect(&app.base).await;
    let bad = sio.request("subscribe_overview", json!({"x": 1})).await;
    assert_eq!(bad["ok"], false, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains('x')),
        "{bad}"
    );
    let ack = sio.request("subscribe_overview", json!({})).await;
    assert_eq!(ack["ok"], true);
    assert_eq!(by_name(&ack).len(), VARIANTS);

    // One variant changes (a third instrument, an event); the socket hears of it.
    let changed = &names[123];
    w.snapshot(changed, "i1", &payload(1)).await;
    w.event(&ev(changed, 1, "a.X")).await;
    let (summary, seen) = wait_update(&mut sio, changed, |s| {
        s["instruments"] == 3 && s["last_seq"].as_i64().is_some_and(|n| n >= 1)
    })
    .await;
    assert_eq!(summary["last_event"]["event_type"], "signal");
    assert_eq!(summary["last_event"]["vt_symbol"], "a.X");
    assert!(
        seen.iter().all(|u| by_name(u).len() < VARIANTS),
        "updates carry the changed variants only"
    );
    let (_, rest) = app.get("/api/overview").await;
    assert_eq!(by_name(&rest)[changed]["instruments"], 3);

    // After unsubscribing, changes are no longer pushed (checked after a change that a
    // still-subscribed second socket does see).
    let mut other = Sio::connect(&app.base).await;
    assert_eq!(
        other.request("subscribe_overview", Value::Null).await["ok"],
        true
    );
    assert_eq!(
        sio.request("unsubscribe_overview", json!({})).await["ok"],
        true
    );
    sio.drain();
    w.snapshot(changed, "i1", &payload(2)).await;
    wait_update(&mut other, changed, |s| s["instruments"] == 4).await;
    // A round trip on the unsubscribed socket: anything pushed before would be queued before it.
    assert_eq!(
        sio.request("unsubscribe_overview", json!({})).await["ok"],
        true
    );
    assert!(
        !sio.drain().iter().any(|m| matches!(m, Msg::Overview(_))),
        "no overview_update after unsubscribe_overview"
    );
    sio.close().await;
    other.close().await;
    app.finish().await;
}

async fn overview_shows_only_granted_variants(backend: Backend) {
    let app = auth_app(backend).await;
    let prefix = unique("ovg");
    let (mine_a, mine_b, theirs) = (
        format!("{prefix}_a"),
        format!("{prefix}_b"),
        unique("other"),
    );
    let w = Writer::connect(&app.db, 2).await;
    for v in [&mine_a, &mine_b, &theirs] {
        w.snapshot(v, "i1", &payload(0)).await;
    }
    let bearer = token(&[&format!("{prefix}_*")], Duration::from_secs(600));
    let get = |t: Option<String>| {
        let mut req = app.http.get(format!("{}/api/overview", app.base));
        if let Some(t) = t {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.expect("request");
            (
                resp.status(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(get(None).await.0, StatusCode::UNAUTHORIZED);
    let body = wait_for("both granted variants", WAIT, || async {
        let (status, body) = get(Some(bearer.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (by_name(&body).len() == 2).then_some(body)
    })
    .await;
    let names: Vec<String> = by_name(&body).into_keys().collect();
    assert_eq!(names, vec![mine_a.clone(), mine_b.clone()]);

    let mut sio = Sio::connect_with(
        &app.base,
        crate::common::sio::Mode::Normal,
        Some(json!({"token": bearer})),
    )
    .await;
    let ack = sio.request("subscribe_overview", json!({})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert!(!by_name(&ack).contains_key(&theirs), "{ack}");
    // A forbidden variant changes, then a granted one; only the granted one is pushed (an
    // update with the forbidden one would have come first).
    w.snapshot(&theirs, "i1", &payload(1)).await;
    wait_for("the forbidden change to be applied", WAIT, || async {
        let all = app.hub.overview().summaries(|_| true);
        all.iter()
            .any(|s| s.contains(theirs.as_str()) && s.contains("\"instruments\":3"))
            .then_some(())
    })
    .await;
    w.snapshot(&mine_b, "i1", &payload(1)).await;
    let (_, seen) = wait_update(&mut sio, &mine_b, |s| s["instruments"] == 3).await;
    assert!(
        seen.iter().all(|u| !by_name(u).contains_key(&theirs)),
        "a variant the token does not grant is never pushed: {seen:?}"
    );
    sio.close().await;
    app.finish().await;
}
