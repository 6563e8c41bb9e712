//! The sampler: every 500 ms it records delivered and committed events per second, the server's
//! CPU (percent of one core, from `/proc/<pid>/stat`), its RSS and the connected clients into the
//! run's timeline, accumulates CPU seconds across server restarts, and updates the progress bar.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::ProgressBar;
use tokio::task::JoinHandle;

use crate::{client::Totals, report::Tick, server, writer::WriteTotals};

/// Samples throughput, CPU and RSS every `TICK` into a timeline.
pub struct Sampler {
    /// The timeline so far.
    pub ticks: Arc<Mutex<Vec<Tick>>>,
    /// The server's pid (updated on restart).
    pub pid: Arc<AtomicU32>,
    /// CPU seconds accumulated over every server process of the run.
    pub cpu_s: Arc<Mutex<f64>>,
    task: JoinHandle<()>,
}

/// Sampling period of the timeline.
const TICK: Duration = Duration::from_millis(500);

impl Sampler {
    /// Starts sampling.
    pub fn start(
        pid: u32,
        clients: Arc<Totals>,
        writes: Arc<WriteTotals>,
        bar: ProgressBar,
    ) -> Self {
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let pid = Arc::new(AtomicU32::new(pid));
        let cpu_s = Arc::new(Mutex::new(0.0));
        let (t2, p2, c2) = (ticks.clone(), pid.clone(), cpu_s.clone());
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (
                0u64,
                0u64,
                start,
                pid_cpu(p2.load(Ordering::Relaxed)),
                p2.load(Ordering::Relaxed),
            );
            let mut iv = tokio::time::interval(TICK);
            loop {
                iv.tick().await;
                let now = Instant::now();
                let dt = now.duration_since(last.2).as_secs_f64().max(1e-6);
                let (d, c) = (
                    clients.delivered.load(Ordering::Relaxed),
                    writes.committed.load(Ordering::Relaxed),
                );
                let p = p2.load(Ordering::Relaxed);
                let s = server::sample(p).unwrap_or_default();
                let dcpu = if p == last.4 {
                    s.cpu_s - last.3
                } else {
                    s.cpu_s
                };
                if let Ok(mut total) = c2.lock() {
                    *total += dcpu.max(0.0);
                }
                let tick = Tick {
                    t: now.duration_since(start).as_secs_f64(),
                    delivered_per_s: (d - last.0) as f64 / dt,
                    committed_per_s: (c - last.1) as f64 / dt,
                    cpu_pct: 100.0 * dcpu.max(0.0) / dt,
                    rss_kb: s.rss_kb,
                    connected: clients.connected.load(Ordering::Relaxed),
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
                last = (d, c, now, s.cpu_s, p);
            }
        });
        Self {
            ticks,
            pid,
            cpu_s,
            task,
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
