//! A measurement, not a test of correctness (ignored by default): `/api/bars` resampling 30
//! days of 1-minute bars (43,200 rows of one symbol) to 1h, for a 1-day chart and for all 30
//! days, through real HTTP, on MariaDB and PostgreSQL. Prints `MEASURED` lines:
//!
//! ```sh
//! CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo test --test it -- --ignored --nocapture bars_load
//! ```

use std::time::{Duration, Instant};

use chrono::{Duration as Span, NaiveDateTime};
use reqwest::StatusCode;

use crate::common::{Backend, TestDb, spawn_app_with, writer::Writer};

const DAYS: i64 = 30;
const ROWS_PER_INSERT: i64 = 1000;
const RUNS: usize = 20;

/// Inserts `DAYS` days of 1-minute bars of `rb2405.SHFE` from 2024-04-01 00:00 (local).
async fn seed(w: &Writer, backend: Backend) {
    let q = |c: &str| match backend {
        Backend::MySql => format!("`{c}`"),
        _ => format!("\"{c}\""),
    };
    let t0 = NaiveDateTime::parse_from_str("2024-04-01 00:00", "%Y-%m-%d %H:%M").expect("t0");
    let total = DAYS * 1440;
    let mut m = 0;
    while m < total {
        let rows: Vec<String> = (m..(m + ROWS_PER_INSERT).min(total))
            .map(|i| {
                let t = (t0 + Span::minutes(i)).format("%Y-%m-%d %H:%M:%S");
                let p = 3500.0 + (i % 97) as f64;
                format!(
                    "('rb2405', 'SHFE', '{t}', '1m', 10, 1000, 5, {p}, {}, {}, {p})",
                    p + 2.0,
                    p - 2.0
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO dbbardata (symbol, exchange, {}, {}, volume, turnover, open_interest, \
             open_price, high_price, low_price, close_price) VALUES {}",
            q("datetime"),
            q("interval"),
            rows.join(", ")
        );
        w.exec(&sql).await;
        m += ROWS_PER_INSERT;
    }
}

/// Median and maximum of `RUNS` GETs of `path` (after one warm-up), checking `buckets` bars.
async fn time(
    app: &crate::common::app::TestApp,
    path: &str,
    buckets: usize,
) -> (Duration, Duration) {
    let mut took = Vec::new();
    for run in 0..=RUNS {
        let t = Instant::now();
        let (status, body) = app.get(path).await;
        let elapsed = t.elapsed();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["resampled_from"], "1m");
        assert_eq!(
            body["bars"].as_array().map_or(0, Vec::len),
            buckets,
            "{path}"
        );
        if run > 0 {
            took.push(elapsed);
        }
    }
    took.sort();
    (took[took.len() / 2], took[took.len() - 1])
}

async fn measure(backend: Backend) {
    let app = spawn_app_with(TestDb::create(backend).await, |c| {
        c.database.bars_timezone = "Asia/Shanghai".into();
    })
    .await;
    let w = Writer::connect(&app.db, 2).await;
    seed(&w, backend).await;
    // One local day (Shanghai) in the middle of the range: 24 buckets of 1h.
    let day = "/api/bars?vt_symbol=rb2405.SHFE&interval=1h&start=2024-04-15T16:00:00Z&end=2024-04-16T15:59:59Z";
    let (p50, max) = time(&app, day, 24).await;
    eprintln!(
        "MEASURED {backend:?} /api/bars 1 day of 1h from {} stored 1m rows: median {:.1} ms, max {:.1} ms over {RUNS} requests",
        DAYS * 1440,
        p50.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0
    );
    let month = format!(
        "/api/bars?vt_symbol=rb2405.SHFE&interval=1h&limit={}",
        DAYS * 24
    );
    let (p50, max) = time(&app, &month, (DAYS * 24) as usize).await;
    eprintln!(
        "MEASURED {backend:?} /api/bars all 30 days of 1h (43,200 1m rows read): median {:.1} ms, max {:.1} ms",
        p50.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn bars_load_mysql() {
    measure(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn bars_load_postgres() {
    measure(Backend::Postgres).await;
}
