//! Opt-in delivery options (issue 20) through a real Socket.IO client, on every backend:
//! `batch: true` (`event_batch`) delivers every event exactly once in order next to plain
//! sockets, across a resume and with a stalled client cut off; `deltas: true`
//! (`snapshot_delta`) patches the snapshot the client holds into exactly what `/api/snapshot`
//! serves, with a full update whenever the client's base is not the one patched; bad option
//! types get `ok:false` naming the field.

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use serde_json::{Value, json};
use signalgate::realtime::delta::merge_apply;

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        sio::{Mode, Msg, Sio, seq},
        spawn_app, spawn_app_with, unique, wait_for,
        writer::{Writer, ev, write_paced},
    },
};

backend_tests!(
    batch_and_plain_sockets_get_every_event_once_in_order,
    stalled_batch_client_is_cut_off,
    deltas_patch_the_held_snapshot_into_the_rest_one,
);

const LONG: Duration = Duration::from_secs(60);

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(seq).collect()
}

async fn batch_and_plain_sockets_get_every_event_once_in_order(b: Backend) {
    const EVENTS: u64 = 400;
    let app = spawn_app(b).await;
    let w = Arc::new(Writer::connect(&app.db, 4).await);
    let v = unique("bt");
    let batch = json!({"variant": v, "batch": true});
    let mut plain = Sio::connect(&app.base).await;
    let mut batched = Sio::connect(&app.base).await;
    let mut filtered = Sio::connect(&app.base).await;
    let mut resumer = Sio::connect(&app.base).await;
    assert_eq!(plain.subscribe(json!({"variant": v})).await["ok"], true);
    assert_eq!(batched.subscribe(batch.clone()).await["ok"], true);
    let sub = json!({"variant": v, "batch": true, "vt_symbols": ["rb2405.SHFE"]});
    assert_eq!(filtered.subscribe(sub).await["ok"], true);
    assert_eq!(resumer.subscribe(batch.clone()).await["ok"], true);

    let written = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn({
        let (w, v) = (w.clone(), v.clone());
        async move { write_paced(w, &v, (4, EVENTS, 0), 2000.0, written).await }
    });
    // One batch socket leaves mid-stream and resumes with since_seq while events keep coming.
    let mut resumed = resumer.events_until(LONG, |e| e.len() >= 50).await;
    resumer.close().await;
    let last = seq(resumed.last().expect("events"));
    let mut resumer = Sio::connect(&app.base).await;
    let mut again = batch.clone();
    again["since_seq"] = json!(last);
    let ack = resumer.subscribe(again).await;
    assert_eq!(ack["ok"], true, "{ack}");
    resumed.extend(ack["events"].as_array().cloned().unwrap_or_default());
    assert_eq!(writer.await.expect("writer"), EVENTS);

    let expected: Vec<i64> = (1..=EVENTS as i64).collect();
    let have = resumed.len();
    resumed.extend(
        resumer
            .events_until(LONG, |e| have + e.len() >= EVENTS as usize)
            .await,
    );
    assert_eq!(seqs(&resumed), expected, "resumed batch socket");
    for (name, c) in [
        ("plain", &mut plain),
        ("batch", &mut batched),
        ("filtered", &mut filtered),
    ] {
        let got = c.events_until(LONG, |e| e.len() >= EVENTS as usize).await;
        assert_eq!(
            seqs(&got),
            expected,
            "{name}: every event exactly once, in seq order"
        );
    }
    let (new, batches) = batched.counts.get();
    assert_eq!(new, 0, "a batch socket gets no event_new");
    assert!(
        (1..=EVENTS as usize).contains(&batches),
        "{batches} batches"
    );
    assert_eq!(
        plain.counts.get(),
        (EVENTS as usize, 0),
        "a plain socket keeps event_new"
    );
    for c in [plain, batched, filtered, resumer] {
        c.close().await;
    }
    app.finish().await;
}

async fn stalled_batch_client_is_cut_off(b: Backend) {
    // ~32 KB events fill the loopback buffers of a client that stops reading; one packet per
    // fan-out step for a batch socket, so the writer goes a few events at a time.
    const EVENTS: u64 = 600;
    const CHUNK: u64 = 4;
    let app = spawn_app_with(TestDb::create(b).await, |c| {
        c.realtime.socket_buffer = 16;
        c.realtime.ping_interval_ms = 10_000;
        c.realtime.ping_timeout_ms = 10_000;
    })
    .await;
    let w = Writer::connect(&app.db, 2).await;
    let v = unique("sb");
    let mut healthy = Vec::new();
    for batch in [true, false] {
        let c = Sio::connect(&app.base).await;
        let ack = c.subscribe(json!({"variant": v, "batch": batch})).await;
        assert_eq!(ack["ok"], true, "{ack}");
        healthy.push(c);
    }
    let stalled = Sio::connect_mode(&app.base, Mode::Stall).await;
    let ack = stalled
        .subscribe(json!({"variant": v, "batch": true}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let pad = "x".repeat(32 * 1024);
    let mut received: Vec<Vec<Value>> = vec![Vec::new(); healthy.len()];
    let mut n = 0;
    while n < EVENTS && app.fanout.slow_disconnects() == 0 {
        for k in n..n + CHUNK {
            let mut e = ev(&v, k, "rb2405.SHFE");
            e.payload = json!({"n": k, "pad": pad}).to_string();
            w.event(&e).await;
        }
        n += CHUNK;
        for (c, got) in healthy.iter_mut().zip(&mut received) {
            let have = got.len();
            got.extend(c.events_until(LONG, |e| have + e.len() >= n as usize).await);
        }
    }
    wait_for("the stalled batch client to be cut off", LONG, || async {
        (app.fanout.slow_disconnects() >= 1).then_some(())
    })
    .await;
    let expected: Vec<i64> = (1..=n as i64).collect();
    for (i, got) in received.iter().enumerate() {
        assert_eq!(seqs(got), expected, "healthy client {i}");
    }
    let room = format!("room:variant:{v}");
    assert_eq!(
        app.io.within(room).sockets().len(),
        2,
        "only the healthy clients remain"
    );
    drop(stalled);
    for c in healthy {
        c.close().await;
    }
    app.finish().await;
}

/// A 100-instrument book with the first `changed` prices moved by `round`.
fn book(round: i64, changed: usize) -> Value {
    let mut m = serde_json::Map::new();
    for i in 0..100 {
        let price = if i < changed {
            100 + i as i64 + round
        } else {
            100 + i as i64
        };
        m.insert(format!("SYM{i:03}.EX"), json!({"price": price, "qty": i}));
    }
    json!({"instruments": m})
}

/// The next snapshot message (`snapshot_update`, or `snapshot_delta` carrying `patch`).
async fn next_snapshot(c: &mut Sio) -> Value {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Snapshot(s)) => return s,
            Some(Msg::Event(_)) => {}
            other => panic!("expected a snapshot message, got {other:?}"),
        }
    }
}

/// A client with `deltas: true` and the snapshot of `inst-01` it holds.
struct Holder {
    c: Sio,
    held: Option<Value>,
}

impl Holder {
    async fn join(base: &str, sub: Value) -> Self {
        let c = Sio::connect(base).await;
        let ack = c.subscribe(sub).await;
        assert_eq!(ack["ok"], true, "{ack}");
        let held = ack["snapshots"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["instance_id"] == "inst-01"))
            .cloned();
        Self { c, held }
    }

    /// Receives the next change: applies a delta (which must be against the held version) or
    /// takes a full update; returns whether it was a delta.
    async fn receive(&mut self) -> bool {
        let m = next_snapshot(&mut self.c).await;
        if m.get("patch").is_none() {
            self.held = Some(m);
            return false;
        }
        let held = self
            .held
            .as_mut()
            .expect("a delta only against a held snapshot");
        assert_eq!(m["base_version"], held["version"], "{m}");
        merge_apply(held, &m["patch"]);
        assert_eq!(held["version"], m["version"], "{m}");
        true
    }
}

async fn deltas_patch_the_held_snapshot_into_the_rest_one(b: Backend) {
    let app = spawn_app(b).await;
    let w = Writer::connect(&app.db, 1).await;
    let v = unique("dl");
    w.snapshot(&v, "inst-01", &book(0, 0)).await;
    let path = format!("/api/snapshot/{v}?instance_id=inst-01");
    let rest = |min: i64| {
        let path = path.clone();
        let app = &app;
        async move {
            wait_for("the snapshot over REST", LONG, || async {
                let (_, body) = app.get(&path).await;
                let s = body["snapshots"][0].clone();
                (s["version"].as_i64().unwrap_or(0) >= min).then_some(s)
            })
            .await
        }
    };
    let first = rest(1).await;
    let deltas = json!({"variant": v, "deltas": true});
    let mut holder = Holder::join(&app.base, deltas.clone()).await;
    assert_eq!(holder.held.as_ref(), Some(&first), "first paint in the ack");
    // Holds nothing of inst-01 (its ack only has another instance): full update first.
    let other = json!({"variant": v, "deltas": true, "instance_id": "inst-02"});
    let mut newcomer = Holder::join(&app.base, other).await;
    assert!(newcomer.held.is_none());
    let mut plain = Holder::join(&app.base, json!({"variant": v})).await;

    // Round 3 adds a null member (no merge patch can set it): a full update for everyone.
    for round in 1..=4 {
        let mut payload = book(round, 5);
        if round >= 3 {
            payload["gone"] = Value::Null;
        }
        w.snapshot(&v, "inst-01", &payload).await;
        let want = rest(round + 1).await;
        let (d, n, p) = (
            holder.receive().await,
            newcomer.receive().await,
            plain.receive().await,
        );
        assert_eq!(d, round != 3, "round {round}: delta for the holder");
        assert_eq!(n, round == 2 || round == 4, "round {round}: newcomer");
        assert!(!p, "a client without deltas gets full updates");
        for (who, h) in [
            ("holder", &holder),
            ("newcomer", &newcomer),
            ("plain", &plain),
        ] {
            assert_eq!(
                h.held.as_ref(),
                Some(&want),
                "round {round}: {who} holds the REST one"
            );
        }
    }

    // A resume starts from the ack's full snapshot; the next change patches that.
    holder.c.close().await;
    w.snapshot(&v, "inst-01", &book(5, 5)).await;
    rest(6).await;
    let mut resume = deltas.clone();
    resume["since_seq"] = json!(0);
    let mut holder = Holder::join(&app.base, resume).await;
    assert_eq!(
        holder.held.as_ref().map(|s| s["version"].clone()),
        Some(json!(6))
    );
    w.snapshot(&v, "inst-01", &book(6, 5)).await;
    let want = rest(7).await;
    assert!(
        holder.receive().await,
        "a delta against the resumed snapshot"
    );
    assert_eq!(holder.held.as_ref(), Some(&want));

    // Bad option types are refused, naming the field.
    for (field, bad) in [("batch", json!("yes")), ("deltas", json!(1))] {
        let mut sub = json!({"variant": v});
        sub[field] = bad;
        let ack = holder.c.subscribe(sub).await;
        assert_eq!(ack["ok"], false, "{ack}");
        let msg = ack["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.starts_with(&format!("{field}: invalid type")), "{ack}");
    }
    for h in [holder, newcomer, plain] {
        h.c.close().await;
    }
    app.finish().await;
}
