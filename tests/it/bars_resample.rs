//! Resampled intervals, on every backend through real HTTP and Socket.IO: `/api/bars` answers
//! 15m, 1h and 1d from stored 1-minute bars, clock-aligned in `--bars-timezone` (Shanghai),
//! with the lunch break left as a gap, says `resampled_from`, serves a stored interval as it
//! is (a stored 1h series), and `subscribe_bars` on a resampled interval acks and pushes the current bucket.

use std::time::Duration;

use chrono::NaiveDateTime;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signalgate::{
    domain::{Interval, VtSymbol},
    store::{NewBar, StoredBar},
};

use crate::{
    backend_tests,
    bars::write_bar,
    common::{
        Backend, TestDb,
        sio::{Msg, Sio},
        spawn_app_with,
    },
};

backend_tests!(resampled_bars_over_rest_and_live);

const SYMBOL: &str = "rb2405.SHFE";
const WAIT: Duration = Duration::from_secs(10);

/// `/api/bars` for `interval` on 2024-05-01 (a whole UTC day covers the Shanghai session).
async fn day(app: &crate::common::app::TestApp, symbol: &str, interval: &str) -> Value {
    let path = format!(
        "/api/bars?vt_symbol={symbol}&interval={interval}&start=2024-05-01T00:00:00Z&end=2024-05-01T12:00:00Z"
    );
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn times(body: &Value) -> Vec<String> {
    body["bars"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|b| b["datetime"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The next `bar_update` of `interval` whose bar satisfies `done`.
async fn next_bar(c: &mut Sio, interval: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Bar(b)) if b["interval"] == interval && done(&b["bar"]) => return b,
            Some(_) => {}
            None => panic!("no matching {interval} bar_update within {WAIT:?}"),
        }
    }
}

async fn resampled_bars_over_rest_and_live(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend).await, |c| {
        c.database.bars_timezone = "Asia/Shanghai".into();
        c.database.bars_poll_interval_ms = 50;
    })
    .await;
    // 1-minute bars 09:30-10:44 and, after the lunch break, 13:30-13:44 (Shanghai time);
    // minute m (from 09:30) closes at 100 + m.
    for m in (0..75).chain(240..255) {
        write_bar(&app.store, SYMBOL, m, 100.0 + m as f64).await;
    }

    let hour = day(&app, SYMBOL, "1h").await;
    assert_eq!(hour["resampled_from"], "1m", "{hour}");
    assert_eq!(hour["interval"], "1h");
    // Local 09:00, 10:00, 13:00 = UTC 01:00, 02:00, 05:00; no buckets for 11:00 and 12:00.
    assert_eq!(
        times(&hour),
        [
            "2024-05-01T01:00:00.000000Z",
            "2024-05-01T02:00:00.000000Z",
            "2024-05-01T05:00:00.000000Z"
        ]
    );
    let first = &hour["bars"][0];
    assert_eq!(
        (
            &first["open"],
            &first["high"],
            &first["low"],
            &first["close"]
        ),
        (&json!(99.0), &json!(130.0), &json!(98.0), &json!(129.0))
    );
    assert_eq!(
        (&first["volume"], &first["turnover"]),
        (&json!(300.0), &json!(30000.0))
    );
    assert_eq!(hour["bars"][1]["volume"], 450.0);
    assert_eq!(hour["bars"][2]["close"], 354.0);

    // 15m: 09:30, 09:45, 10:00, 10:15, 10:30, 13:30.
    let quarter = day(&app, SYMBOL, "15m").await;
    assert_eq!(times(&quarter).len(), 6, "{quarter}");
    assert_eq!(times(&quarter)[5], "2024-05-01T05:30:00.000000Z");
    // 1d is VnPy's d: the local calendar day, starting at local midnight.
    let daily = day(&app, SYMBOL, "1d").await;
    assert_eq!(daily["interval"], "d");
    assert_eq!(times(&daily), ["2024-04-30T16:00:00.000000Z"]);
    assert_eq!(daily["bars"][0]["volume"], 900.0);
    // The latest two buckets without `start`; `limit` counts buckets.
    let (_, latest) = app
        .get(&format!(
            "/api/bars?vt_symbol={SYMBOL}&interval=30m&limit=2"
        ))
        .await;
    assert_eq!(
        times(&latest),
        ["2024-05-01T02:30:00.000000Z", "2024-05-01T05:30:00.000000Z"]
    );
    // Stored intervals are served as they are.
    let minute = day(&app, SYMBOL, "1m").await;
    assert!(minute.get("resampled_from").is_none(), "{minute}");
    assert_eq!(times(&minute).len(), 90);
    let stored = "au2406.SHFE";
    app.store
        .upsert_bar(&NewBar {
            vt_symbol: VtSymbol::parse(stored).expect("symbol"),
            interval: Interval::Hour,
            bar: StoredBar {
                datetime: NaiveDateTime::parse_from_str("2024-05-01 09:00", "%Y-%m-%d %H:%M")
                    .expect("time"),
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: 1.5,
                volume: 7.0,
                turnover: 8.0,
                open_interest: 9.0,
            },
        })
        .await
        .expect("stored 1h bar");
    let stored_hour = day(&app, stored, "1h").await;
    assert!(stored_hour.get("resampled_from").is_none(), "{stored_hour}");
    assert_eq!(stored_hour["bars"][0]["volume"], 7.0);
    let (status, bad) = app
        .get(&format!("/api/bars?vt_symbol={SYMBOL}&interval=7m"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("interval")),
        "{bad}"
    );

    // Live: the current 5m bucket (13:40-13:44), then the next one as its minutes arrive.
    let mut c = Sio::connect(&app.base).await;
    let ack = c
        .request(
            "subscribe_bars",
            json!({"vt_symbol": SYMBOL, "interval": "5m"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        ack["bar"]["datetime"], "2024-05-01T05:40:00.000000Z",
        "{ack}"
    );
    assert_eq!(
        (&ack["bar"]["volume"], &ack["bar"]["close"]),
        (&json!(50.0), &json!(354.0))
    );
    write_bar(&app.store, SYMBOL, 255, 400.0).await;
    next_bar(&mut c, "5m", |b| {
        b["datetime"] == "2024-05-01T05:45:00.000000Z" && b["close"] == 400.0
    })
    .await;
    write_bar(&app.store, SYMBOL, 256, 401.0).await;
    let u = next_bar(&mut c, "5m", |b| b["close"] == 401.0).await;
    assert_eq!(
        (
            &u["bar"]["datetime"],
            &u["bar"]["volume"],
            &u["bar"]["open"]
        ),
        (
            &json!("2024-05-01T05:45:00.000000Z"),
            &json!(20.0),
            &json!(399.0)
        )
    );
    c.close().await;
    app.finish().await;
}
