//! The realtime core through a real Socket.IO client: exactly-once ordered delivery under
//! concurrent writers, resume across disconnects and restarts, slow clients, database outages
//! and bad requests, on every backend.

use std::{collections::HashSet, sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::TestApp,
        proxy::Proxy,
        sio::{Mode, Msg, Sio, seq},
        spawn_app, spawn_app_with, unique, wait_for,
        writer::{Writer, ev, random_tx},
    },
};

backend_tests!(
    many_writers_many_clients_exactly_once,
    resume_after_disconnect_restart_and_cap,
    slow_client_is_cut_off_others_keep_up,
    bad_requests_get_error_acks,
    symbol_filter_instance_filter_and_polling,
    resume_ack_is_bounded_in_bytes,
);

const LONG: Duration = Duration::from_secs(120);

fn assert_exact(events: &[Value], expected: &[i64], who: &str) {
    let got: Vec<i64> = events.iter().map(seq).collect();
    assert_eq!(got.len(), expected.len(), "{who}: count");
    assert_eq!(
        got, expected,
        "{who}: every event exactly once, in seq order"
    );
}

/// Writes `n` events into `variant` from `writers` concurrent writers, each transaction holding
/// 1-3 events open for 0-3 ms. Returns the number inserted.
async fn write_concurrently(
    w: &Arc<Writer>,
    variant: &str,
    writers: u64,
    n: u64,
    base: u64,
) -> u64 {
    let mut tasks = Vec::new();
    for wid in 0..writers {
        let per = n / writers + u64::from(wid < n % writers);
        let (w, v) = (w.clone(), variant.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut i = 0u64;
            while done < per {
                let (evs, hold) = random_tx(&v, base + wid * 10_000_000 + i, per - done);
                i += evs.len() as u64;
                done += w.tx(&evs, hold, true).await.expect("write");
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("writer task");
    }
    total
}

async fn many_writers_many_clients_exactly_once(b: Backend) {
    const CLIENTS: usize = 50;
    const EVENTS: u64 = 5000;
    let app = spawn_app(b).await;
    let w = Arc::new(Writer::connect(&app.db, 10).await);
    let v = unique("mw");

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let c = Sio::connect(&app.base).await;
        let ack = c.subscribe(json!({"variant": v})).await;
        assert_eq!(ack["ok"], true, "{ack}");
        assert_eq!(ack["seq"], 0);
        assert_eq!(ack["events"], json!([]));
        assert_eq!(ack["truncated"], false);
        clients.push(c);
    }
    let total = write_concurrently(&w, &v, 8, EVENTS, 0).await;
    assert_eq!(total, EVENTS);
    w.snapshot(&v, "inst-01", &json!({"final": true})).await;

    let expected: Vec<i64> = (1..=total as i64).collect();
    let mut tasks = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        let expected = expected.clone();
        tasks.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + LONG;
            let (mut events, mut got_snapshot) = (Vec::new(), false);
            while events.len() < expected.len() || !got_snapshot {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match c.next(left).await {
                    Some(Msg::Event(e)) => events.push(e),
                    Some(Msg::Snapshot(s)) => got_snapshot |= s["payload"]["final"] == true,
                    Some(Msg::Reset(r)) => panic!("client {i}: unexpected stream_reset {r}"),
                    Some(Msg::Bar(b)) => panic!("client {i}: unexpected bar_update {b}"),
                    Some(Msg::Overview(o)) => panic!("client {i}: unexpected overview_update {o}"),
                    Some(Msg::Closed) | None => panic!(
                        "client {i}: stream ended with {} events, snapshot {got_snapshot}",
                        events.len()
                    ),
                }
            }
            assert_exact(&events, &expected, &format!("client {i}"));
            c.close().await;
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    app.finish().await;
}

async fn resume_after_disconnect_restart_and_cap(b: Backend) {
    let db = TestDb::create(b).await;
    let mut app = spawn_app_with(db.clone(), |_| {}).await;
    let w = Arc::new(Writer::connect(&db, 4).await);
    let v = unique("rs");
    let mut all: Vec<Value> = Vec::new();

    // 1. Live, then a disconnect mid-stream.
    let mut c = Sio::connect(&app.base).await;
    assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
    write_concurrently(&w, &v, 4, 100, 0).await;
    all.extend(c.events_until(LONG, |e| e.len() >= 30).await);
    c.close().await;
    let last = seq(all.last().expect("some events"));
    // Events already in flight when we closed may or may not have been seen; resume from `last`.
    write_concurrently(&w, &v, 4, 100, 1_000).await;

    // 2. Reconnect with since_seq: ack replays the gap, live events follow.
    let mut c = Sio::connect(&app.base).await;
    let ack = c.subscribe(json!({"variant": v, "since_seq": last})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["truncated"], false);
    let replay = ack["events"].as_array().cloned().unwrap_or_default();
    assert!(
        replay
            .iter()
            .all(|e| seq(e) > last && seq(e) <= ack["seq"].as_i64().unwrap_or(0))
    );
    all.extend(replay);
    write_concurrently(&w, &v, 4, 50, 2_000).await;
    let target = 250;
    let have = all.len();
    all.extend(c.events_until(LONG, |e| have + e.len() >= target).await);
    assert_exact(
        &all,
        &(1..=target as i64).collect::<Vec<_>>(),
        "after reconnect",
    );

    // 3. Gateway restart while writers keep writing.
    let writer = {
        let (w, v) = (w.clone(), v.clone());
        tokio::spawn(async move { write_concurrently(&w, &v, 4, 200, 3_000).await })
    };
    all.extend(c.events_until(LONG, |e| !e.is_empty()).await);
    app.stop().await;
    let mut app = spawn_app_with(db.clone(), |_| {}).await;
    let last = seq(all.last().expect("events"));
    let mut c2 = Sio::connect(&app.base).await;
    let ack = c2.subscribe(json!({"variant": v, "since_seq": last})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    all.extend(ack["events"].as_array().cloned().unwrap_or_default());
    assert_eq!(writer.await.expect("writer"), 200);
    let target = 450;
    let have = all.len();
    all.extend(c2.events_until(LONG, |e| have + e.len() >= target).await);
    assert_exact(
        &all,
        &(1..=target as i64).collect::<Vec<_>>(),
        "after restart",
    );
    c2.close().await;
    app.stop().await;

    // 4. A resume beyond the ack cap is truncated; the rest pages over REST.
    let mut app = spawn_app_with(db.clone(), |cfg| cfg.realtime.resume_cap = 40).await;
    let c3 = Sio::connect(&app.base).await;
    let ack = c3.subscribe(json!({"variant": v, "since_seq": 0})).await;
    assert_eq!(ack["ok"], true);
    assert_eq!(ack["truncated"], true);
    let mut got = ack["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), 40);
    let head = ack["seq"].as_i64().expect("seq");
    assert_eq!(head, 450);
    page_rest(&app, &v, &mut got, head).await;
    assert_exact(
        &got,
        &(1..=450).collect::<Vec<_>>(),
        "truncated resume + REST paging",
    );
    c3.close().await;
    app.stop().await;
    db.drop_db().await;
}

/// Completes a truncated ack's `got` over REST, page by page, up to `head` (as clients do).
async fn page_rest(app: &TestApp, v: &str, got: &mut Vec<Value>, head: i64) {
    while got.last().map_or(0, seq) < head {
        let after = got.last().map_or(0, seq);
        let (_, page) = app
            .get(&format!("/api/events/{v}?after_seq={after}&limit=40"))
            .await;
        let page = page["events"].as_array().cloned().unwrap_or_default();
        assert!(
            !page.is_empty(),
            "REST page after {after} is empty before {head}"
        );
        got.extend(page);
    }
}

async fn resume_ack_is_bounded_in_bytes(b: Backend) {
    // 100 events of ~32 KB (3.2 MB) and a resume from seq 0: within --resume-cap (1000), but the
    // ack stops at RESUME_MAX_BYTES of event JSON, says `truncated`, and REST pages the rest.
    let app = spawn_app_with(TestDb::create(b).await, |_| {}).await;
    let w = Writer::connect(&app.db, 1).await;
    let v = unique("rb");
    let pad = "x".repeat(32 * 1024);
    for n in 0..100 {
        let mut e = ev(&v, n, "rb2405.SHFE");
        e.payload = json!({"n": n, "pad": pad}).to_string();
        w.event(&e).await;
    }
    wait_for("the gateway to hold the 100 events", LONG, || async {
        let (_, o) = app.get("/api/overview").await;
        o["variants"]
            .as_array()?
            .iter()
            .any(|x| x["variant"] == v.as_str() && x["last_seq"] == 100)
            .then_some(())
    })
    .await;
    let c = Sio::connect(&app.base).await;
    let ack = c.subscribe(json!({"variant": v, "since_seq": 0})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        ack["truncated"], true,
        "3.2 MB of events is over the byte bound"
    );
    let mut got = ack["events"].as_array().cloned().unwrap_or_default();
    let bytes: usize = got.iter().map(|e| e.to_string().len() + 1).sum();
    assert!(
        !got.is_empty() && bytes <= signalgate::realtime::RESUME_MAX_BYTES,
        "{} events, {bytes} bytes in the ack",
        got.len()
    );
    assert!(got.len() < 100);
    page_rest(&app, &v, &mut got, 100).await;
    assert_exact(
        &got,
        &(1..=100).collect::<Vec<_>>(),
        "byte-bounded ack + REST",
    );
    c.close().await;
    app.finish().await;
}

async fn slow_client_is_cut_off_others_keep_up(b: Backend) {
    // ~32 KB events: enough to fill the loopback socket buffers of a client that stops reading.
    const EVENTS: u64 = 600;
    let app = spawn_app_with(TestDb::create(b).await, |c| {
        c.realtime.socket_buffer = 64;
        // Long enough that the heartbeat does not close the stalled client before its buffer
        // fills (on a loaded machine the writer is slow), short enough to end it afterwards.
        c.realtime.ping_interval_ms = 10_000;
        c.realtime.ping_timeout_ms = 10_000;
    })
    .await;
    let w = Writer::connect(&app.db, 2).await;
    let v = unique("sl");
    let mut healthy = Vec::new();
    for _ in 0..3 {
        let c = Sio::connect(&app.base).await;
        assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
        healthy.push(c);
    }
    let stalled = Sio::connect_mode(&app.base, Mode::Stall).await;
    assert_eq!(stalled.subscribe(json!({"variant": v})).await["ok"], true);
    assert_eq!(app.io.sockets().len(), 4);

    // The writer is paced by the healthy clients: at most CHUNK events ahead of the slowest
    // one, so on a loaded machine they never fall a whole send buffer (64) behind and only the
    // stalled client, which never reads again, is cut off.
    const CHUNK: u64 = 16;
    let pad = "x".repeat(32 * 1024);
    let mut received: Vec<Vec<Value>> = vec![Vec::new(); healthy.len()];
    for start in (0..EVENTS).step_by(CHUNK as usize) {
        for n in start..(start + CHUNK).min(EVENTS) {
            let mut e = ev(&v, n, "rb2405.SHFE");
            e.payload = json!({"n": n, "pad": pad}).to_string();
            w.event(&e).await;
        }
        let written = (start + CHUNK).min(EVENTS) as usize;
        for (c, got) in healthy.iter_mut().zip(&mut received) {
            let have = got.len();
            got.extend(c.events_until(LONG, |e| have + e.len() >= written).await);
        }
    }
    let expected: Vec<i64> = (1..=EVENTS as i64).collect();
    for (i, got) in received.iter().enumerate() {
        assert_exact(got, &expected, &format!("healthy client {i}"));
    }
    let kept = healthy;
    wait_for("the stalled client to be cut off", LONG, || async {
        (app.fanout.slow_disconnects() >= 1).then_some(())
    })
    .await;
    // It left every room at once: it gets no more work and its buffer stays bounded.
    let room = format!("room:variant:{v}");
    assert_eq!(
        app.io.within(room).sockets().len(),
        3,
        "only the healthy clients remain"
    );
    drop(stalled);
    for c in kept {
        c.close().await;
    }
    app.finish().await;
}

async fn bad_requests_get_error_acks(b: Backend) {
    let app = spawn_app_with(TestDb::create(b).await, |c| {
        c.realtime.max_symbols = 3;
        c.realtime.max_subscriptions = 2;
    })
    .await;
    let c = Sio::connect(&app.base).await;
    let long = "v".repeat(65);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("just a string"), "invalid_request", "object"),
        (json!(42), "invalid_request", "object"),
        (json!([1, 2]), "invalid_request", "object"),
        (json!({}), "invalid_request", "variant"),
        (json!({"variant": 3}), "invalid_request", "variant"),
        (json!({"variant": ""}), "invalid_request", "variant"),
        (json!({"variant": long}), "invalid_request", "variant"),
        (json!({"variant": "a\u{1}b"}), "invalid_request", "control"),
        (
            json!({"variant": "v", "since_seq": -1}),
            "invalid_request",
            "since_seq",
        ),
        (
            json!({"variant": "v", "since_seq": "5"}),
            "invalid_request",
            "since_seq",
        ),
        (
            json!({"variant": "v", "since_seq": 1.5}),
            "invalid_request",
            "since_seq",
        ),
        (
            json!({"variant": "v", "vt_symbols": "a.B"}),
            "invalid_request",
            "vt_symbols",
        ),
        (
            json!({"variant": "v", "vt_symbols": [1]}),
            "invalid_request",
            "vt_symbols",
        ),
        (
            json!({"variant": "v", "vt_symbols": ["nodot"]}),
            "invalid_request",
            "vt_symbol",
        ),
        (
            json!({"variant": "v", "vt_symbols": ["a.B", "c.D", "e.F", "g.H"]}),
            "too_many_symbols",
            "limit",
        ),
        (
            json!({"variant": "v", "instance_id": 7}),
            "invalid_request",
            "instance_id",
        ),
        (
            json!({"variant": "v", "sinceSeq": 1}),
            "invalid_request",
            "sinceSeq",
        ),
    ];
    for (payload, code, needle) in cases {
        let ack = c.subscribe(payload.clone()).await;
        assert_eq!(ack["ok"], false, "{payload}: {ack}");
        assert_eq!(ack["error"]["code"], code, "{payload}: {ack}");
        let msg = ack["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(needle),
            "{payload}: {msg:?} should mention {needle:?}"
        );
    }
    assert_eq!(c.subscribe(json!({"variant": "one"})).await["ok"], true);
    assert_eq!(c.subscribe(json!({"variant": "two"})).await["ok"], true);
    assert_eq!(
        c.subscribe(json!({"variant": "two", "since_seq": 0})).await["ok"],
        true,
        "re-subscribing is not a new subscription"
    );
    let ack = c.subscribe(json!({"variant": "three"})).await;
    assert_eq!(ack["error"]["code"], "too_many_subscriptions", "{ack}");
    let ack = c.request("unsubscribe", json!({"nope": 1})).await;
    assert_eq!(ack["ok"], false, "{ack}");
    let ack = c.request("unsubscribe", json!("one")).await;
    assert_eq!(ack["ok"], false, "{ack}");
    assert_eq!(
        c.request("unsubscribe", json!({"variant": "one"})).await,
        json!({"ok": true})
    );
    assert_eq!(
        c.subscribe(json!({"variant": "three"})).await["ok"],
        true,
        "room freed by unsubscribe"
    );
    c.close().await;
    app.finish().await;
}

async fn symbol_filter_instance_filter_and_polling(b: Backend) {
    let app = spawn_app(b).await;
    let w = Writer::connect(&app.db, 2).await;
    let v = unique("sf");
    w.snapshot(&v, "i1", &json!({"a": 1})).await;
    w.snapshot(&v, "i2", &json!({"b": 2})).await;
    wait_for("snapshots loaded", Duration::from_secs(15), || async {
        (app.hub.snapshots(&v, None).len() == 2).then_some(())
    })
    .await;

    let mut polling = Sio::connect_mode(&app.base, Mode::Polling).await;
    let ack = polling
        .subscribe(json!({"variant": v, "vt_symbols": ["a.X"], "instance_id": "i1"}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let snaps = ack["snapshots"].as_array().cloned().unwrap_or_default();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["instance_id"], "i1");
    assert_eq!(snaps[0]["payload"], json!({"a": 1}));
    let mut full = Sio::connect(&app.base).await;
    let ack = full.subscribe(json!({"variant": v})).await;
    assert_eq!(ack["snapshots"].as_array().map(Vec::len), Some(2));

    for n in 0..30 {
        w.event(&ev(&v, n, if n % 2 == 0 { "a.X" } else { "b.Y" }))
            .await;
    }
    let all = full.events_until(LONG, |e| e.len() >= 30).await;
    assert_exact(&all, &(1..=30).collect::<Vec<_>>(), "unfiltered");
    let only_a = polling.events_until(LONG, |e| e.len() >= 15).await;
    let a_seqs: Vec<i64> = all
        .iter()
        .filter(|e| e["vt_symbol"] == "a.X")
        .map(seq)
        .collect();
    assert_exact(&only_a, &a_seqs, "vt_symbols filter over long-polling");
    assert!(only_a.iter().all(|e| e["vt_symbol"] == "a.X"));

    // Snapshot updates reach symbol-filtered subscribers too.
    w.snapshot(&v, "i1", &json!({"a": 2})).await;
    let got = wait_for("snapshot_update on the filtered client", LONG, || {
        let msgs = polling.drain();
        async move {
            msgs.into_iter().find_map(|m| match m {
                Msg::Snapshot(s) if s["payload"]["a"] == 2 => Some(s),
                _ => None,
            })
        }
    })
    .await;
    assert_eq!(got["version"], 2);
    let seen: HashSet<i64> = only_a.iter().map(seq).collect();
    assert_eq!(seen.len(), 15);
    polling.close().await;
    full.close().await;
    app.finish().await;
}

/// The database goes away mid-stream and comes back: nothing is lost or repeated.
async fn database_outage_mid_stream(b: Backend) {
    let db = TestDb::create(b).await;
    let direct = spawn_app_with(db.clone(), |_| {}).await; // migrates; also proves the direct path
    let proxy = Proxy::start(db.server.clone().expect("server")).await;
    let mut via = db.clone();
    via.url = db.url_via(&proxy.addr);
    let mut app = spawn_app_with(via, |c| c.database.db_acquire_timeout_ms = 1000).await;
    let w = Writer::connect(&db, 2).await;
    let v = unique("out");
    let mut c = Sio::connect(&app.base).await;
    assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
    for n in 0..50 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    let mut got = c.events_until(LONG, |e| e.len() >= 50).await;
    proxy.down();
    for n in 50..120 {
        w.event(&ev(&v, n, "a.X")).await; // writers keep writing; the gateway cannot see them
    }
    w.snapshot(&v, "i1", &json!({"after": "outage"})).await;
    proxy.up();
    got.extend(c.events_until(LONG, |e| e.len() >= 70).await);
    assert_exact(&got, &(1..=120).collect::<Vec<_>>(), "across the outage");
    wait_for("snapshot after outage", LONG, || {
        let msgs = c.drain();
        async move {
            msgs.into_iter()
                .any(|m| matches!(m, Msg::Snapshot(_)))
                .then_some(())
        }
    })
    .await;
    c.close().await;
    app.stop().await;
    direct.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_database_outage_mid_stream() {
    database_outage_mid_stream(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_database_outage_mid_stream() {
    database_outage_mid_stream(Backend::Postgres).await;
}
