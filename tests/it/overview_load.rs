//! A measurement, not a test of correctness (ignored by default): the gateway's CPU with 500
//! variants whose snapshots all change once a second, without overview subscribers and with
//! 20 of them (each receiving every change, coalesced once a second). The gateway runs as its
//! own process (standalone); its CPU is read from `/proc/<pid>/stat`. Prints `MEASURED` lines:
//!
//! ```sh
//! CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo test --test it -- --ignored --nocapture overview_load
//! ```
//!
//! `SIGNALGATE_LOAD_BACKEND=postgres` measures on PostgreSQL (default MariaDB).

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::common::{
    Backend, TestDb, get_json,
    procs::{Gateway, GatewayArgs, test_dir},
    sio::{Msg, Sio},
    wait_for,
    writer::Writer,
};

const VARIANTS: usize = 500;
const SUBSCRIBERS: usize = 20;
const SECONDS: u64 = 20;

/// A snapshot of 10 instruments with lights and a few numbers (about 2 KB), `tick` varying.
fn payload(tick: u64) -> Value {
    let instruments: serde_json::Map<String, Value> = (0..10)
        .map(|i| {
            let on = (tick + i).is_multiple_of(3);
            let v = json!({
                "status": {"dull_top": on, "dull_bottom": !on, "div_top": false, "div_bottom": on},
                "td_count": tick % 9, "last_price": 3500.0 + i as f64 + tick as f64 / 10.0,
                "last_signal": {"signal_type": "buy", "reason": "td9"},
                "calc_bar_dt": "2026-12-04T10:00:00",
            });
            (format!("rb24{i:02}.SHFE"), v)
        })
        .collect();
    json!({ "instruments": instruments, "tick": tick })
}

/// CPU seconds (user + system) of `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `)` that ends the command name, from `state` on: utime and stime are
    // the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Upserts every variant's snapshot once a second for `SECONDS`; returns the gateway's CPU
/// as % of one core over that time.
async fn load(w: &Writer, names: &[String], pid: u32, tick0: u64) -> f64 {
    let (cpu0, t0) = (cpu_seconds(pid), Instant::now());
    for s in 0..SECONDS {
        let body = payload(tick0 + s);
        for chunk in names.chunks(25) {
            join_all(chunk.iter().map(|v| w.snapshot(v, "i1", &body))).await;
        }
        // Pacing the load schedule (one round a second), not synchronisation.
        let next = t0 + Duration::from_secs(s + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64() * 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn overview_load_500_variants_cpu() {
    let backend = match std::env::var("SIGNALGATE_LOAD_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::MySql,
    };
    let db = TestDb::create(backend).await;
    let dir = test_dir("ovload");
    let args = GatewayArgs {
        database_url: db.url.clone(),
        redis_url: String::new(),
        group: String::new(),
        lease_ttl_ms: 0,
        poll_interval_ms: 100,
        env: vec![("RUST_LOG".into(), "warn".into())],
    };
    let gw = Gateway::start(&dir, "gw", &args).await;
    let pid = gw.pid().expect("gateway pid");
    let names: Vec<String> = (0..VARIANTS).map(|i| format!("load_{i:03}")).collect();
    let w = Writer::connect(&db, 25).await;
    let seed = payload(0);
    for chunk in names.chunks(25) {
        join_all(chunk.iter().map(|v| w.snapshot(v, "i1", &seed))).await;
    }
    let http = reqwest::Client::new();
    wait_for(
        "500 variants in the overview",
        Duration::from_secs(60),
        || async {
            let body = get_json(&http, &format!("{}/api/overview", gw.base)).await?;
            (body["variants"].as_array()?.len() == VARIANTS).then_some(())
        },
    )
    .await;

    let idle = load(&w, &names, pid, 1).await;
    let mut socks = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let s = Sio::connect(&gw.base).await;
        assert_eq!(s.request("subscribe_overview", json!({})).await["ok"], true);
        socks.push(s);
    }
    let watched = load(&w, &names, pid, 100).await;
    let mut summaries = 0;
    for s in &mut socks {
        for m in s.drain() {
            if let Msg::Overview(u) = m {
                summaries += u["variants"].as_array().map_or(0, Vec::len);
            }
        }
    }
    assert!(summaries > 0, "the subscribers received overview updates");
    eprintln!(
        "MEASURED {backend:?} {VARIANTS} variants x 1 snapshot/s: gateway CPU {idle:.1}% of a core without overview subscribers, {watched:.1}% with {SUBSCRIBERS} (they received {summaries} summaries in {SECONDS} s)"
    );
    for s in socks {
        s.close().await;
    }
    drop(gw);
    db.drop_db().await;
}
