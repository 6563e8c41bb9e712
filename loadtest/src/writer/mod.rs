//! Writers that behave like strategy processes: W concurrent writers, each with its own
//! connection, inserting events with only the seed columns (`INSERT IGNORE` / `ON CONFLICT DO
//! NOTHING`), optionally upserting a snapshot in the same transaction, optionally holding the
//! transaction open for a random 0..`hold_ms` so commits land out of `id` order (what breaks a
//! naive `id > last_id` poller). The schedule is fixed in advance (R events/s plus optional
//! bursts), so a slow server or database shows up as latency, not as less offered load. For the
//! raw WebSocket peer, which has no database, the writers publish the same rows to its
//! `/publish` endpoint instead.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use rand::Rng;
use sqlx::{MySqlPool, PgPool};

use crate::ledger::Ledger;

pub mod bench;
mod sql;
use sql::{Conn, Row};

/// How the writers write.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WritePlan {
    /// Concurrent writers (connections).
    pub writers: usize,
    /// Events per second, all writers together; 0 = as fast as they can.
    pub rate: f64,
    /// How long to write.
    pub seconds: f64,
    /// Hold each transaction open for a random 0..hold_ms before committing.
    pub hold_ms: u64,
    /// Upsert the writer's snapshot row with every k-th event (0 = never).
    pub snapshot_every: u64,
    /// Instruments in the snapshot payload (0 = a small `{"n","writer"}` payload).
    pub snapshot_instruments: u64,
    /// Instruments changed per snapshot update.
    pub snapshot_changed: u64,
    /// Every this many seconds, a burst (0 = no bursts).
    pub burst_every_s: f64,
    /// Extra events released at once at each burst.
    pub burst_events: u64,
}

/// Where the rows go.
#[derive(Clone)]
pub enum Sink {
    /// MariaDB/MySQL.
    My(MySqlPool),
    /// PostgreSQL.
    Pg(PgPool),
    /// The raw peer's publish endpoint (`ws://…/publish`).
    Raw(String),
}

impl Sink {
    /// Connects a pool sized for `writers` to a `mysql://` or `postgres://` URL.
    pub async fn connect(url: &str, writers: usize) -> anyhow::Result<Self> {
        let n = u32::try_from(writers.max(1)).unwrap_or(u32::MAX);
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(n)
                .connect(&url)
                .await
                .context("writers connect to MySQL")?;
            Ok(Self::My(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(n)
                .connect(url)
                .await
                .context("writers connect to PostgreSQL")?;
            Ok(Self::Pg(pool))
        } else {
            anyhow::bail!("writers need a mysql:// or postgres:// URL, got {url}")
        }
    }
}

/// Counters the writers update while running.
#[derive(Default)]
pub struct WriteTotals {
    /// Events committed.
    pub committed: AtomicU64,
    /// Transactions that failed.
    pub failed: AtomicU64,
}

/// What the writers did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WriteResult {
    /// Events scheduled.
    pub offered: u64,
    /// Events committed.
    pub committed: u64,
    /// Failed transactions.
    pub failed: u64,
    /// The first few errors.
    pub errors: Vec<String>,
    /// Wall time from the first write to the last commit.
    pub seconds: f64,
}

/// Start offsets (seconds) of every event; `None` for "as fast as possible".
fn schedule(plan: &WritePlan) -> Option<Vec<f64>> {
    if plan.rate <= 0.0 {
        return None;
    }
    let base = (plan.rate * plan.seconds).round() as u64;
    let mut t: Vec<f64> = (0..base).map(|i| i as f64 / plan.rate).collect();
    if plan.burst_every_s > 0.0 {
        let mut at = plan.burst_every_s;
        while at < plan.seconds {
            t.extend(std::iter::repeat_n(at, plan.burst_events as usize));
            at += plan.burst_every_s;
        }
        t.sort_by(f64::total_cmp);
    }
    Some(t)
}

/// Events scheduled by `plan` (upper bound for "as fast as possible": `None`).
pub fn planned_events(plan: &WritePlan) -> Option<u64> {
    schedule(plan).map(|s| s.len() as u64)
}

/// Runs the writers to the end of the plan; returns what they committed.
pub async fn run(
    sink: Sink,
    plan: WritePlan,
    ledger: Arc<Ledger>,
    run_id: String,
    totals: Arc<WriteTotals>,
) -> WriteResult {
    let sched = schedule(&plan).map(Arc::new);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(plan.seconds);
    let mut tasks = Vec::new();
    for w in 0..plan.writers.max(1) {
        let (sink, plan, ledger, run_id, totals, sched, next, errors) = (
            sink.clone(),
            plan.clone(),
            ledger.clone(),
            run_id.clone(),
            totals.clone(),
            sched.clone(),
            next.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = match Conn::open(&sink).await {
                Ok(c) => c,
                Err(e) => return note(&errors, &totals, format!("writer {w}: {e:#}")),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match &sched {
                    Some(s) => match s.get(i) {
                        Some(at) => {
                            tokio::time::sleep_until((start + Duration::from_secs_f64(*at)).into())
                                .await
                        }
                        None => break,
                    },
                    None if Instant::now() >= end => break,
                    None => {}
                }
                let v = i % ledger.variants.len();
                let Some(n) = ledger.take(v) else { break };
                let hold = match plan.hold_ms {
                    0 => Duration::ZERO,
                    h => Duration::from_micros(rand::rng().random_range(0..h * 1000)),
                };
                let snap = plan.snapshot_every > 0 && (n + 1) % plan.snapshot_every == 0;
                let row = Row {
                    ledger: &ledger,
                    v,
                    n,
                    w,
                    run_id: &run_id,
                    hold,
                    snap,
                    shape: (plan.snapshot_instruments, plan.snapshot_changed),
                    id: i,
                };
                match conn.write(&row).await {
                    Ok(()) => {
                        ledger.commit(v, n);
                        totals.committed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => note(&errors, &totals, format!("writer {w}: {e:#}")),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let offered = sched.map_or(totals.committed.load(Ordering::Relaxed), |s| s.len() as u64);
    let errors = errors.lock().map(|e| e.clone()).unwrap_or_default();
    WriteResult {
        offered,
        committed: totals.committed.load(Ordering::Relaxed),
        failed: totals.failed.load(Ordering::Relaxed),
        errors,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn note(errors: &Mutex<Vec<String>>, totals: &WriteTotals, e: String) {
    totals.failed.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut errs) = errors.lock()
        && errs.len() < 5
    {
        errs.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_has_rate_times_seconds_plus_bursts_in_order() {
        let mut plan = WritePlan {
            writers: 1,
            rate: 10.0,
            seconds: 3.0,
            hold_ms: 0,
            snapshot_every: 0,
            snapshot_instruments: 0,
            snapshot_changed: 0,
            burst_every_s: 1.0,
            burst_events: 5,
        };
        let s = schedule(&plan).expect("rate > 0");
        assert_eq!(s.len(), 30 + 2 * 5);
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        plan.rate = 0.0;
        assert!(schedule(&plan).is_none());
    }
}
