//! Room identity: variant names may contain `:`, the room separator. A subscriber of variant
//! `acct:rb2405.SHFE` must not get `acct`'s messages, a subscriber of `acct` filtered to
//! `rb2405.SHFE` must not get `acct:rb2405.SHFE`'s, and a token only ever receives variants it
//! grants; with and without authentication, through a real Socket.IO client.

use std::time::Duration;

use serde_json::{Value, json};
use signalgate::auth::{JwtSecret, mint};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::TestApp,
        sio::{Mode, Msg, Sio},
        spawn_app_with, unique,
        writer::{Writer, ev},
    },
};

backend_tests!(colon_names_never_share_a_room);

const LONG: Duration = Duration::from_secs(60);
const SYMBOL: &str = "rb2405.SHFE";
const SECRET: &str = "rooms-test-secret-0123456789";

/// Collects what `c` is pushed until `done(collected)` holds.
async fn until(c: &mut Sio, what: &str, done: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
    let deadline = tokio::time::Instant::now() + LONG;
    let mut got = Vec::new();
    while !done(&got) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(m) => got.push(m),
            None => panic!("no {what} within {LONG:?}; got {got:?}"),
        }
    }
    got
}

/// Whether `msgs` hold an event of `variant` (and a snapshot of it, if `snapshot`).
fn has_own(msgs: &[Msg], variant: &str, snapshot: bool) -> bool {
    let event = msgs
        .iter()
        .any(|m| matches!(m, Msg::Event(e) if e["variant"] == variant));
    let snap = msgs
        .iter()
        .any(|m| matches!(m, Msg::Snapshot(s) if s["variant"] == variant));
    event && (snap || !snapshot)
}

/// Everything `c` was pushed so far: an ack comes after every message queued before it.
async fn flushed(c: &mut Sio) -> Vec<Msg> {
    let ack = c
        .request("unsubscribe", json!({"variant": unique("flush")}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    c.drain()
}

/// The variant of every event and snapshot in `msgs`.
fn variants(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Event(v) | Msg::Snapshot(v) => Some(v["variant"].as_str()?.to_owned()),
            _ => None,
        })
        .collect()
}

async fn subscribed(base: &str, token: Option<String>, req: Value) -> Sio {
    let c = Sio::connect_with(base, Mode::Normal, token.map(|t| json!({"token": t}))).await;
    let ack = c.subscribe(req.clone()).await;
    assert_eq!(ack["ok"], true, "{req}: {ack}");
    c
}

/// `plain = <p>acct`, `colon = <p>acct:rb2405.SHFE`: a full subscriber of each, and a
/// subscriber of each filtered to `rb2405.SHFE`. Events and snapshots of both variants reach
/// exactly their own subscribers.
async fn both_directions(app: &TestApp, token: impl Fn(&str) -> Option<String>) {
    let plain = unique("acct");
    let colon = format!("{plain}:{SYMBOL}");
    let mut clients = Vec::new();
    for (v, symbols) in [
        (&plain, json!(null)),
        (&plain, json!([SYMBOL])),
        (&colon, json!(null)),
        (&colon, json!([SYMBOL])),
    ] {
        let req = json!({"variant": v, "vt_symbols": symbols});
        clients.push((v.clone(), subscribed(&app.base, token(v), req).await));
    }
    let w = Writer::connect(&app.db, 2).await;
    for v in [&plain, &colon] {
        w.snapshot(v, "i1", &json!({"of": v})).await;
        w.event(&ev(v, 1, SYMBOL)).await;
    }
    // Every message of both variants has been queued once every client has its own ones.
    let mut received = Vec::new();
    for (own, c) in &mut clients {
        received.push(until(c, own, |m| has_own(m, own, true)).await);
    }
    for ((own, c), mut got) in clients.iter_mut().zip(received) {
        got.extend(flushed(c).await);
        let seen = variants(&got);
        assert!(
            seen.iter().all(|v| v == own),
            "a subscriber of {own} got messages of another variant: {seen:?}"
        );
    }
    for (_, c) in clients {
        c.close().await;
    }
}

async fn colon_names_never_share_a_room(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend).await, |_| {}).await;
    both_directions(&app, |_| None).await;
    app.finish().await;
}

fn secret() -> JwtSecret {
    JwtSecret::new(SECRET)
}

fn token(grants: &[&str]) -> String {
    let grants = grants.iter().map(|g| (*g).to_owned()).collect();
    mint(&secret(), "rooms", grants, Duration::from_secs(600)).expect("mint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_only_receive_granted_variants() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = spawn_app_with(db, |c| c.auth.jwt_secret = Some(secret())).await;
    // Each socket's token grants exactly the variant it follows.
    both_directions(&app, |v| Some(token(&[v]))).await;

    // A token for `<p>trend_a:*` follows `<p>trend_a:rb2405.SHFE`; a token for `<p>trend_a`
    // follows `<p>trend_a` filtered to rb2405.SHFE. Neither gets the other's variant.
    let plain = unique("trend_a");
    let colon = format!("{plain}:{SYMBOL}");
    let mut globbed = subscribed(
        &app.base,
        Some(token(&[&format!("{plain}:*")])),
        json!({"variant": colon}),
    )
    .await;
    let mut filtered = subscribed(
        &app.base,
        Some(token(&[&plain])),
        json!({"variant": plain, "vt_symbols": [SYMBOL]}),
    )
    .await;
    let mut both = subscribed(&app.base, Some(token(&["*"])), json!({"variant": plain})).await;
    let ack = both.subscribe(json!({"variant": colon})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    let w = Writer::connect(&app.db, 2).await;
    w.event(&ev(&plain, 1, SYMBOL)).await;
    w.event(&ev(&colon, 1, SYMBOL)).await;
    until(&mut both, &plain, |m| has_own(m, &plain, false)).await;
    let mut got = until(&mut globbed, &colon, |m| has_own(m, &colon, false)).await;
    got.extend(flushed(&mut globbed).await);
    assert_eq!(variants(&got), vec![colon], "{got:?}");
    let mut got = until(&mut filtered, &plain, |m| has_own(m, &plain, false)).await;
    got.extend(flushed(&mut filtered).await);
    assert_eq!(variants(&got), vec![plain], "{got:?}");
    app.finish().await;
}
