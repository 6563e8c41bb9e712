//! The lean client against the official behaviour: on a real gateway (PostgreSQL), the lean
//! raw-websocket client and the `rust_socketio` client subscribe to the same variant and must
//! see exactly the same `event_new` payloads, in the same order, and snapshot updates.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{FutureExt, SinkExt, StreamExt};
use rust_socketio::{Event, Payload, TransportType, asynchronous::ClientBuilder};
use serde_json::{Value, json};
use signalgate_loadtest::{
    ledger::Ledger,
    scenario::setup::Setup,
    sio::{self, Protocol},
    writer::{self, Sink, WritePlan, WriteTotals},
};
use tokio_tungstenite::tungstenite::Message;

const EVENTS: usize = 40;

fn first(p: Payload) -> Value {
    match p {
        Payload::Text(mut v) if !v.is_empty() => v.swap_remove(0),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn lean_client_sees_what_the_official_client_sees() {
    let opts = common::opts(&common::postgres());
    let setup = Setup::start(&opts, "interop", false)
        .await
        .expect("gateway starts");
    let url = setup.server().expect("running").url.clone();
    let variant = format!("interop_{}", rand::random::<u32>());

    // The official client: rust_socketio, websocket transport.
    let official = Arc::new(Mutex::new(Vec::<Value>::new()));
    let snaps = Arc::new(Mutex::new(0usize));
    let (o, s) = (official.clone(), snaps.clone());
    let (conn_tx, conn_rx) = tokio::sync::oneshot::channel::<()>();
    let conn_tx = Arc::new(Mutex::new(Some(conn_tx)));
    let client = ClientBuilder::new(url.as_str())
        .transport_type(TransportType::Websocket)
        .on(Event::Connect, move |_, _| {
            let c = conn_tx.clone();
            async move {
                if let Some(tx) = c.lock().ok().and_then(|mut g| g.take()) {
                    let _ = tx.send(());
                }
            }
            .boxed()
        })
        .on("event_new", move |p, _| {
            let o = o.clone();
            async move { o.lock().expect("lock").push(first(p)) }.boxed()
        })
        .on("snapshot_update", move |_, _| {
            let s = s.clone();
            async move { *s.lock().expect("lock") += 1 }.boxed()
        })
        .connect()
        .await
        .expect("rust_socketio connects");
    // Emitting before the namespace is joined would be dropped.
    tokio::time::timeout(Duration::from_secs(10), conn_rx)
        .await
        .expect("namespace joined in time")
        .expect("connect signal");
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    let ack_tx = Arc::new(Mutex::new(Some(ack_tx)));
    client
        .emit_with_ack(
            "subscribe",
            json!({"variant": variant}),
            Duration::from_secs(10),
            move |p, _| {
                let tx = ack_tx.clone();
                async move {
                    if let Some(tx) = tx.lock().ok().and_then(|mut g| g.take()) {
                        let _ = tx.send(first(p));
                    }
                }
                .boxed()
            },
        )
        .await
        .expect("emit subscribe");
    let ack = tokio::time::timeout(Duration::from_secs(10), ack_rx)
        .await
        .expect("ack in time")
        .expect("ack");
    assert_eq!(ack[0]["ok"], json!(true), "official client's ack: {ack}");

    // The lean client.
    let (mut ws, lean_ack) = sio::connect(&url, Protocol::SocketIo, &variant, None)
        .await
        .expect("lean client subscribes");
    assert_eq!(
        lean_ack.seq,
        ack[0]["seq"].as_u64(),
        "both acks report the same position"
    );

    let ledger = Arc::new(Ledger::new(std::slice::from_ref(&variant), 1024));
    let plan = WritePlan {
        writers: 4,
        rate: 200.0,
        seconds: EVENTS as f64 / 200.0,
        hold_ms: 3,
        snapshot_every: 10,
        snapshot_instruments: 0,
        snapshot_changed: 0,
        burst_every_s: 0.0,
        burst_events: 0,
    };
    let db = setup.db.clone().expect("database");
    let sink = Sink::connect(&db.url, 4).await.expect("writers connect");
    let w = writer::run(
        sink,
        plan,
        ledger,
        "interop".into(),
        Arc::new(WriteTotals::default()),
    )
    .await;
    assert_eq!(w.committed, EVENTS as u64, "writer errors: {:?}", w.errors);

    let mut lean = Vec::new();
    let mut lean_snaps = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while lean.len() < EVENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .expect("lean client receives all events in time");
        let Some(Ok(Message::Text(t))) = frame else {
            panic!("lean websocket ended: {frame:?}")
        };
        match sio::classify(Protocol::SocketIo, t.as_str()) {
            sio::Push::Event(text) => {
                let v: Value = serde_json::from_str(&text[2..]).expect("event frame is JSON");
                assert_eq!(
                    sio::field(text, "n"),
                    v[1]["payload"]["n"].as_u64(),
                    "field() agrees with a JSON parser"
                );
                lean.push(v[1].clone());
            }
            sio::Push::Snapshot => lean_snaps += 1,
            sio::Push::Ping => ws.send(Message::text("3")).await.expect("pong"),
            other => assert!(matches!(other, sio::Push::Other), "unexpected {other:?}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while official.lock().expect("lock").len() < EVENTS {
        assert!(
            Instant::now() < deadline,
            "official client got {} events",
            official.lock().expect("lock").len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let official = official.lock().expect("lock").clone();
    assert_eq!(
        lean, official,
        "both clients see the same events in the same order"
    );
    let seqs: Vec<u64> = lean.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ascending seq: {seqs:?}"
    );
    assert!(
        lean_snaps > 0 && *snaps.lock().expect("lock") > 0,
        "both see snapshot updates"
    );
    let _ = client.disconnect().await;
    setup.finish().await;
}
