//! Regressions for the defects an adversarial trial found in the realtime side: a database
//! recreated under a running gateway, unbounded state from made-up names, requests of one
//! socket handled out of order, oversized messages and unknown events.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        raw_sio::RawSocket,
        sio::{Msg, Sio, seq},
        spawn_app, spawn_app_with, unique, wait_for,
        writer::{Writer, ev},
    },
};

backend_tests!(database_recreated_starts_a_new_epoch);

const LONG: Duration = Duration::from_secs(60);

/// Waits for the next `stream_reset`, skipping other pushes.
async fn next_reset(c: &mut Sio) -> Value {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Reset(r)) => return r,
            Some(_) => {}
            None => panic!("no stream_reset within {LONG:?}"),
        }
    }
}

async fn database_recreated_starts_a_new_epoch(b: Backend) {
    let app = spawn_app(b).await;
    let v = unique("epoch");
    let w = Writer::connect(&app.db, 2).await;
    let mut c = Sio::connect(&app.base).await;
    let ack = c.subscribe(json!({"variant": v})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    let old_epoch = ack["epoch"].as_str().expect("ack has an epoch").to_owned();
    for n in 0..30 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    for _ in 0..3 {
        w.snapshot(&v, "inst-01", &json!({"state": "old"})).await;
    }
    let old = c.events_until(LONG, |e| e.len() >= 30).await;
    let old_head = seq(&old[29]);
    drop(w);

    // Drop and recreate the schema under the running gateway: seq and version restart.
    // Every migration down, whatever the newest is.
    while app.store.migrate_down().await.expect("migrate down") {}
    app.store.migrate().await.expect("migrate again");
    let w = Writer::connect(&app.db, 2).await;
    for n in 100..105 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    w.snapshot(&v, "inst-01", &json!({"state": "new"})).await;

    let reset = next_reset(&mut c).await;
    assert_eq!(reset["variant"], v.as_str());
    let new_epoch = reset["epoch"].as_str().expect("epoch").to_owned();
    assert_ne!(new_epoch, old_epoch);
    assert!(reset["seq"].as_i64().expect("seq") < old_head, "{reset}");

    // A resume from the old history is told to start over, and gets nothing of it.
    let c2 = Sio::connect(&app.base).await;
    let ack = c2
        .subscribe(json!({"variant": v, "since_seq": old_head, "epoch": old_epoch}))
        .await;
    assert_eq!(ack["reset"], true, "{ack}");
    assert_eq!(ack["epoch"], new_epoch.as_str(), "{ack}");
    assert_eq!(ack["events"], json!([]), "{ack}");
    // Even with the new epoch, since_seq beyond the head means another history.
    let ack = c2
        .subscribe(json!({"variant": v, "since_seq": old_head + 1000, "epoch": new_epoch}))
        .await;
    assert_eq!(ack["reset"], true, "{ack}");

    // The new history's snapshot (version 1) replaces the cached one (version 3).
    wait_for("the new snapshot", LONG, || async {
        let (_, body) = app.get(&format!("/api/snapshot/{v}")).await;
        (body["snapshots"][0]["payload"]["state"] == "new").then_some(())
    })
    .await;
    let ack = Sio::connect(&app.base)
        .await
        .subscribe(json!({"variant": v}))
        .await;
    assert_eq!(ack["snapshots"][0]["version"], 1, "{ack}");
    assert_eq!(ack["reset"], false, "{ack}");

    // Live pushes go on in the new history.
    let head = ack["seq"].as_i64().expect("seq");
    w.event(&ev(&v, 200, "a.X")).await;
    let more = c
        .events_until(LONG, |e| e.iter().any(|e| seq(e) > head))
        .await;
    assert!(more.iter().all(|e| seq(e) <= head + 1), "{more:?}");
    c2.close().await;
    c.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn made_up_names_leave_no_state() {
    let app = spawn_app(Backend::Sqlite).await;
    let before = app.hub.variant_count();
    let c = Sio::connect(&app.base).await;
    for n in 0..300 {
        let ack = c
            .request("unsubscribe", json!({"variant": format!("nope_{n}")}))
            .await;
        assert_eq!(ack["ok"], true);
    }
    assert_eq!(app.hub.variant_count(), before, "unsubscribe created state");
    let v = unique("made_up");
    for round in 0..50 {
        let symbols: Vec<String> = (0..8).map(|s| format!("s{round}_{s}.X")).collect();
        let ack = c
            .subscribe(json!({"variant": v, "vt_symbols": symbols}))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        assert_eq!(
            app.hub.symbol_room_count(&v),
            8,
            "a resubscribe replaces the rooms"
        );
    }
    assert_eq!(app.hub.variant_count(), before + 1);
    assert_eq!(
        c.request("unsubscribe", json!({"variant": v})).await["ok"],
        true
    );
    assert_eq!(app.hub.symbol_room_count(&v), 0);
    assert_eq!(app.hub.variant_count(), before, "unused variant forgotten");

    // A disconnect forgets the socket's subscriptions too.
    let ack = c
        .subscribe(json!({"variant": v, "vt_symbols": ["a.X"]}))
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(app.hub.variant_count(), before + 1);
    c.close().await;
    wait_for("the disconnect to free the variant", LONG, || {
        let n = app.hub.variant_count();
        async move { (n == before).then_some(()) }
    })
    .await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_of_one_socket_take_effect_in_order() {
    let app = spawn_app(Backend::Sqlite).await;
    let v = unique("order");
    let mut raw = RawSocket::connect(&app.base).await;
    let pairs = 2000;
    for i in 0..pairs {
        let sub = json!(["subscribe", {"variant": v}]);
        let unsub = json!(["unsubscribe", {"variant": v}]);
        raw.send(format!("42{}{sub}", 2 * i)).await;
        raw.send(format!("42{}{unsub}", 2 * i + 1)).await;
    }
    // Acks come back in request order, each answering its own request.
    for id in 0..2 * pairs {
        let frame = raw.recv().await.expect("ack");
        let prefix = format!("43{id}[");
        assert!(frame.starts_with(&prefix), "expected ack {id}, got {frame}");
        let ack: Value = serde_json::from_str(&frame[prefix.len() - 1..]).expect("json");
        assert_eq!(ack[0]["ok"], true, "{frame}");
        assert_eq!(
            ack[0].get("seq").is_some(),
            id % 2 == 0,
            "ack {id}: {frame}"
        );
    }
    // The last request was an unsubscribe: the socket is in no room, the variant is forgotten.
    assert_eq!(
        app.io.within(format!("room:variant:{v}")).sockets().len(),
        0
    );
    assert_eq!(app.hub.symbol_room_count(&v), 0);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_messages_close_only_that_connection() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = spawn_app_with(db, |c| c.realtime.max_message_bytes = 4096).await;
    let v = unique("big");
    let mut bystander = Sio::connect(&app.base).await;
    assert_eq!(bystander.subscribe(json!({"variant": v})).await["ok"], true);

    // Websocket: a message over the limit closes that connection.
    let mut big = RawSocket::connect(&app.base).await;
    let huge = json!(["subscribe", {"variant": "x".repeat(64 * 1024)}]);
    big.send(format!("421{huge}")).await;
    assert_eq!(
        big.recv().await,
        None,
        "the oversized sender is disconnected"
    );

    // Long-polling: a body over the limit is refused.
    let http = reqwest::Client::new();
    let open = http
        .get(format!("{}/socket.io/?EIO=4&transport=polling", app.base))
        .send()
        .await
        .expect("handshake")
        .text()
        .await
        .expect("body");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("sid");
    let resp = http
        .post(format!(
            "{}/socket.io/?EIO=4&transport=polling&sid={sid}",
            app.base
        ))
        .body(format!("4{}", "x".repeat(64 * 1024)))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Everyone else is unaffected.
    let w = Writer::connect(&app.db, 1).await;
    w.event(&ev(&v, 1, "a.X")).await;
    bystander.events_until(LONG, |e| e.len() == 1).await;
    bystander.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_events_get_an_error_ack() {
    let app = spawn_app(Backend::Sqlite).await;
    let c = Sio::connect(&app.base).await;
    let ack = c.request("subscirbe", json!({"variant": "v"})).await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(ack["error"]["code"], "unknown_event", "{ack}");
    assert!(
        ack["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("subscirbe")),
        "{ack}"
    );
    c.close().await;
    app.finish().await;
}
