//! [`Counts`]: the server's statement counts (counting proxy, poll metric) at one moment.
//!
//! The sampler: every 500 ms it records delivered and committed events per second, the server's
//! CPU (percent of one core, from `/proc/<pid>/stat`), its RSS, the connected clients and the
//! largest latency seen in the interval into the run's timeline, accumulates CPU seconds across
//! server restarts, and updates the progress bar. With several server processes (`group`) CPU
//! and RSS are summed over them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use indicatif::ProgressBar;
use tokio::task::JoinHandle;

use crate::{client::Totals, report::Tick, server, writer::WriteTotals};

/// Samples throughput, CPU and RSS every `TICK` into a timeline.
pub struct Sampler {
    /// The timeline so far.
    pub ticks: Arc<Mutex<Vec<Tick>>>,
    /// The server processes (replaced on restart).
    pub pids: Arc<Mutex<Vec<u32>>>,
    /// CPU seconds accumulated over every server process of the run.
    pub cpu_s: Arc<Mutex<f64>>,
    task: JoinHandle<()>,
}

/// Sampling period of the timeline.
const TICK: Duration = Duration::from_millis(500);

impl Sampler {
    /// Starts sampling the processes `pids`.
    pub fn start(
        pids: Vec<u32>,
        clients: Arc<Totals>,
        writes: Arc<WriteTotals>,
        bar: ProgressBar,
    ) -> Self {
        let ticks = Arc::new(Mutex::new(Vec::new()));
        // CPU seconds of each process at the previous tick; a new process counts from 0.
        let mut cpu_last: HashMap<u32, f64> = pids.iter().map(|p| (*p, pid_cpu(*p))).collect();
        let pids = Arc::new(Mutex::new(pids));
        let cpu_s = Arc::new(Mutex::new(0.0));
        let (t2, p2, c2) = (ticks.clone(), pids.clone(), cpu_s.clone());
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (0u64, 0u64, start);
            clients.max_latency_us.store(0, Ordering::Relaxed);
            let mut iv = tokio::time::interval(TICK);
            loop {
                iv.tick().await;
                let now = Instant::now();
                let dt = now.duration_since(last.2).as_secs_f64().max(1e-6);
                let (d, c) = (
                    clients.delivered.load(Ordering::Relaxed),
                    writes.committed.load(Ordering::Relaxed),
                );
                let current = p2.lock().map(|p| p.clone()).unwrap_or_default();
                let (mut dcpu, mut rss_kb) = (0.0, 0);
                let mut seen = HashMap::new();
                for p in current {
                    // A process that is gone (killed) contributes nothing from now on.
                    let Some(s) = server::sample(p) else { continue };
                    dcpu += (s.cpu_s - cpu_last.get(&p).copied().unwrap_or(0.0)).max(0.0);
                    rss_kb += s.rss_kb;
                    seen.insert(p, s.cpu_s);
                }
                cpu_last = seen;
                if let Ok(mut total) = c2.lock() {
                    *total += dcpu;
                }
                let tick = Tick {
                    t: now.duration_since(start).as_secs_f64(),
                    delivered_per_s: (d - last.0) as f64 / dt,
                    committed_per_s: (c - last.1) as f64 / dt,
                    cpu_pct: 100.0 * dcpu / dt,
                    rss_kb,
                    connected: clients.connected.load(Ordering::Relaxed),
                    max_latency_ms: clients.max_latency_us.swap(0, Ordering::Relaxed) as f64
                        / 1000.0,
                };
                bar.set_message(format!(
                    "{:>9.0} msg/s  {:>6.0} commits/s  {} connected  cpu {:.0}%  rss {} MB",
                    tick.delivered_per_s,
                    tick.committed_per_s,
                    tick.connected,
                    tick.cpu_pct,
                    tick.rss_kb / 1024
                ));
                if let Ok(mut t) = t2.lock() {
                    t.push(tick);
                }
                last = (d, c, now);
            }
        });
        Self {
            ticks,
            pids,
            cpu_s,
            task,
        }
    }

    /// Samples these processes from now on (a restarted server).
    pub fn set_pids(&self, pids: Vec<u32>) {
        if let Ok(mut p) = self.pids.lock() {
            *p = pids;
        }
    }

    /// CPU seconds counted so far.
    pub fn cpu(&self) -> f64 {
        self.cpu_s.lock().map_or(0.0, |c| *c)
    }

    /// Stops sampling and returns the timeline.
    pub fn stop(self) -> Vec<Tick> {
        self.task.abort();
        self.ticks.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

fn pid_cpu(pid: u32) -> f64 {
    server::sample(pid).map_or(0.0, |s| s.cpu_s)
}

/// The server's statement counts at one moment: the counting proxy's and the gateway's own
/// poll metric (each when available).
pub struct Counts {
    at: std::time::Instant,
    proxy: Option<u64>,
    metric: Option<f64>,
}

impl Counts {
    /// Reads both counters now.
    pub async fn take(setup: &super::setup::Setup, url: &str) -> Self {
        let metric =
            crate::stmtcount::metric_total(url, crate::stmtcount::POLL_STATEMENTS_METRIC).await;
        Self {
            at: std::time::Instant::now(),
            proxy: setup.statements(),
            metric,
        }
    }

    /// Statements and statements/s since `before` (`null` when nothing was counted).
    pub fn since(&self, before: &Self) -> serde_json::Value {
        let s = self.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let mut v = serde_json::json!({});
        if let (Some(a), Some(b)) = (before.proxy, self.proxy) {
            v["count"] = serde_json::json!(b - a);
            v["seconds"] = serde_json::json!(s);
            v["per_s"] = serde_json::json!((b - a) as f64 / s);
            v["source"] =
                serde_json::json!("counting proxy (COM_QUERY/COM_STMT_EXECUTE, Q/E messages)");
        }
        if let (Some(a), Some(b)) = (before.metric, self.metric) {
            v["poll_metric_per_s"] = serde_json::json!((b - a) / s);
        }
        if v.as_object().is_some_and(serde_json::Map::is_empty) {
            serde_json::Value::Null
        } else {
            v
        }
    }
}
