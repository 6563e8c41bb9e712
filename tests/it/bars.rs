//! Live bars over Socket.IO, on every backend: `subscribe_bars` acks with the series' latest
//! bar, `bar_update` pushes new and changed bars of followed series only, in UTC whatever
//! `--bars-timezone` is; bad requests get error acks.

use std::{sync::Arc, time::Duration};

use chrono::{Duration as Minutes, NaiveDateTime};
use serde_json::{Value, json};
use signalgate::{
    domain::{Interval, VtSymbol},
    store::{NewBar, Store, StoredBar},
};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        sio::{Msg, Sio},
        spawn_app, spawn_app_with, wait_for,
    },
};

backend_tests!(live_bars_ack_updates_and_unsubscribe);

const WAIT: Duration = Duration::from_secs(10);

fn t0() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2024-05-01 09:30:00", "%Y-%m-%d %H:%M:%S").expect("t0")
}

/// Writes a 1m bar at `t0 + minute` (Shanghai time, as VnPy would) with the given close.
pub async fn write_bar(store: &Arc<dyn Store>, vt_symbol: &str, minute: i64, close: f64) {
    store
        .upsert_bar(&NewBar {
            vt_symbol: VtSymbol::parse(vt_symbol).expect("symbol"),
            interval: Interval::Minute,
            bar: StoredBar {
                datetime: t0() + Minutes::minutes(minute),
                open: close - 1.0,
                high: close + 1.0,
                low: close - 2.0,
                close,
                volume: 10.0,
                turnover: 1000.0,
                open_interest: 5.0,
            },
        })
        .await
        .expect("bar written");
}

/// The next `bar_update` for `vt_symbol` whose bar has `close`; other pushes are skipped (the
/// first poll after a subscribe may repeat the ack's bar).
async fn next_bar(c: &mut Sio, vt_symbol: &str, close: f64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Bar(b)) if b["vt_symbol"] == vt_symbol && b["bar"]["close"] == close => {
                return b;
            }
            Some(_) => {}
            None => panic!("no bar_update for {vt_symbol} with close {close} within {WAIT:?}"),
        }
    }
}

async fn live_bars_ack_updates_and_unsubscribe(b: Backend) {
    let app = spawn_app_with(TestDb::create(b).await, |c| {
        c.database.bars_timezone = "Asia/Shanghai".into();
        c.database.bars_poll_interval_ms = 50;
    })
    .await;
    write_bar(&app.store, "rb2405.SHFE", 0, 100.0).await;
    let mut c = Sio::connect(&app.base).await;

    // A series with no bar yet acks `bar: null`; one with bars acks its latest, in UTC.
    let ack = c
        .request(
            "subscribe_bars",
            json!({"vt_symbol": "au2406.SHFE", "interval": "1m"}),
        )
        .await;
    assert_eq!(
        ack,
        json!({"ok": true, "vt_symbol": "au2406.SHFE", "interval": "1m", "bar": null})
    );
    let ack = c
        .request(
            "subscribe_bars",
            json!({"vt_symbol": "rb2405.SHFE", "interval": "1m"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["bar"]["datetime"], "2024-05-01T01:30:00.000000Z");
    assert_eq!(ack["bar"]["close"], 100.0);
    assert_eq!(app.live_bars.followed(), 2);

    // A new bar is pushed, then a change of it (same time, new close).
    write_bar(&app.store, "rb2405.SHFE", 1, 101.0).await;
    let u = next_bar(&mut c, "rb2405.SHFE", 101.0).await;
    assert_eq!(u["interval"], "1m");
    assert_eq!(u["bar"]["datetime"], "2024-05-01T01:31:00.000000Z");
    write_bar(&app.store, "rb2405.SHFE", 1, 102.5).await;
    next_bar(&mut c, "rb2405.SHFE", 102.5).await;
    // The first bar of a followed series.
    write_bar(&app.store, "au2406.SHFE", 0, 500.0).await;
    next_bar(&mut c, "au2406.SHFE", 500.0).await;

    // A second client follows au only: it never gets rb.
    let mut other = Sio::connect(&app.base).await;
    let ack = other
        .request(
            "subscribe_bars",
            json!({"vt_symbol": "au2406.SHFE", "interval": "1m"}),
        )
        .await;
    assert_eq!(ack["bar"]["close"], 500.0);

    // After unsubscribe_bars, rb is no longer pushed to c. Two later au updates (two polls
    // after the rb write) prove that an rb push would have arrived by then.
    let ack = c
        .request(
            "unsubscribe_bars",
            json!({"vt_symbol": "rb2405.SHFE", "interval": "1m"}),
        )
        .await;
    assert_eq!(ack, json!({"ok": true}));
    write_bar(&app.store, "rb2405.SHFE", 2, 103.0).await;
    write_bar(&app.store, "au2406.SHFE", 1, 501.0).await;
    next_bar(&mut c, "au2406.SHFE", 501.0).await;
    write_bar(&app.store, "au2406.SHFE", 2, 502.0).await;
    next_bar(&mut c, "au2406.SHFE", 502.0).await;
    for m in c.drain().into_iter().chain(other.drain()) {
        if let Msg::Bar(b) = m {
            assert_ne!(
                b["vt_symbol"], "rb2405.SHFE",
                "pushed after unsubscribe: {b}"
            );
        }
    }
    // rb has no subscriber left: it is not polled; au still is (the other client).
    assert_eq!(app.live_bars.followed(), 1);
    c.close().await;
    wait_for("c's series forgotten", WAIT, || async {
        (app.live_bars.followed() == 1).then_some(())
    })
    .await;
    other.close().await;
    wait_for("no series followed", WAIT, || async {
        (app.live_bars.followed() == 0).then_some(())
    })
    .await;
    app.finish().await;
}

/// Every malformed `subscribe_bars` / `unsubscribe_bars` gets `ok:false` naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_bad_bar_requests_get_error_acks() {
    let app = spawn_app(Backend::Sqlite).await;
    let c = Sio::connect(&app.base).await;
    let cases = [
        (
            "subscribe_bars",
            json!("rb2405.SHFE"),
            "invalid_request",
            "must be an object",
        ),
        ("subscribe_bars", json!({}), "invalid_request", "vt_symbol"),
        (
            "subscribe_bars",
            json!({"vt_symbol": "rb2405.SHFE"}),
            "invalid_request",
            "interval",
        ),
        (
            "subscribe_bars",
            json!({"vt_symbol": "nodot", "interval": "1m"}),
            "invalid_request",
            "SYMBOL.EXCHANGE",
        ),
        (
            "subscribe_bars",
            json!({"vt_symbol": "a.B", "interval": "2m"}),
            "invalid_request",
            "unknown interval '2m'",
        ),
        (
            "subscribe_bars",
            json!({"vt_symbol": "a.B", "interval": "1m", "x": 1}),
            "invalid_request",
            "unknown field 'x'",
        ),
        (
            "unsubscribe_bars",
            json!({"vt_symbol": "a.B"}),
            "invalid_request",
            "interval",
        ),
        (
            "unsubscribe_bars",
            json!([1]),
            "invalid_request",
            "must be an object",
        ),
    ];
    for (event, payload, code, text) in cases {
        let ack = c.request(event, payload.clone()).await;
        assert_eq!(ack["ok"], false, "{event} {payload}: {ack}");
        assert_eq!(ack["error"]["code"], code, "{event} {payload}: {ack}");
        let message = ack["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(text), "{event} {payload}: {message}");
    }
    for i in 0..8 {
        let ack = c
            .request(
                "subscribe_bars",
                json!({"vt_symbol": format!("s{i}.X"), "interval": "1m"}),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    // Subscribing again to a followed series is fine; a ninth series is refused.
    let again = c
        .request(
            "subscribe_bars",
            json!({"vt_symbol": "s0.X", "interval": "1m"}),
        )
        .await;
    assert_eq!(again["ok"], true, "{again}");
    let ack = c
        .request(
            "subscribe_bars",
            json!({"vt_symbol": "s8.X", "interval": "1m"}),
        )
        .await;
    assert_eq!(ack["error"]["code"], "too_many_subscriptions", "{ack}");
    assert_eq!(app.live_bars.followed(), 8);
    c.close().await;
    app.finish().await;
}
