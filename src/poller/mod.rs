//! The commit-ordered poller: numbers what writers committed and publishes it on the bus.
//!
//! * Writers insert events with `seq` NULL and write snapshot rows that the version trigger
//!   marks `pending` (migration 0005): they pay nothing for the cursor.
//! * Every poll is one statement, [`Store::probe`]: the database identity, the numbering round,
//!   the deletion count (snapshot and counter rows) and the first pending events and snapshot rows, each found
//!   through an index. An idle poll costs the same with 10 or 10,000 variants.
//! * What the probe found is numbered in one short transaction ([`Store::number`]: a
//!   compare-and-set on the round, one `UPDATE` of the events' `seq`, one upsert of the heads,
//!   the snapshot rows marked published) and then published: events first, in `seq` order per
//!   variant, then snapshots. Only numbered events are ever served, so `seq > cursor` never
//!   skips and never repeats (see `store/sequence.rs`).
//! * A full read ([`Store::poll_state`]: every head and snapshot version) reconciles the
//!   published positions with the database at start, when the probe shows something this
//!   poller did not do (another gateway numbered, the identity or the round changed, a snapshot
//!   row was deleted), after an error, and every [`RECONCILE_EVERY`]: resets, catch-up of
//!   events numbered but not published, and changed snapshots.
//! * No transaction is held across polls. Errors (database or bus): log, back off (up to 5 s),
//!   reconcile, resume. A position only moves after its message was published, so nothing is
//!   lost.
//!
//! The poller is a [`Component`]: started from plain positions ([`Seed`]) and stopped on its
//! own (scale-out stops it when this instance loses leadership).

mod publish;
mod reconcile;

use publish::serialise;

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{Bus, BusError, StreamPositions},
    lifecycle::{Component, Supervisor},
    store::{Numbering, Probe, Store, StoreError},
};

/// After a poll that found rows, and for [`ACTIVE_WINDOW`] after, poll again this soon (capped
/// by the idle interval): under light, steady traffic an event waits at most this long for the
/// next poll instead of a full idle interval. Each poll is one statement (two or three more
/// when something is numbered), so 50 polls/s stays far below what a database notices.
const ACTIVE_INTERVAL: Duration = Duration::from_millis(20);
/// How long after the last rows the poller stays at [`ACTIVE_INTERVAL`]: a strategy that just
/// wrote usually writes again soon, while a quiet database is polled at the idle interval.
const ACTIVE_WINDOW: Duration = Duration::from_secs(2);
/// Longest back-off while the database or the bus fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A full read reconciles the published positions with the database at least this often even
/// when the probe shows nothing unusual: a safety net (a few statements and one row per
/// variant and snapshot every 30 s).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// Poller settings.
#[derive(Debug, Clone, Copy)]
pub struct PollerConfig {
    /// Idle poll interval.
    pub interval: Duration,
    /// Most pending events (and, apart, snapshot rows) numbered per round, and most events
    /// per statement when catching up.
    pub batch: u32,
}

/// Where the poller starts: it publishes only what is newer than these positions (the bus
/// layer's one position type; `epochs` is not used by the poller).
pub type Seed = StreamPositions;

/// Liveness of the poller, read by `/readyz`: when it last completed a poll.
#[derive(Debug, Default)]
pub struct PollerStatus {
    /// Unix milliseconds of the last successful poll; 0 = never.
    last_ok_ms: AtomicI64,
}

impl PollerStatus {
    /// Records a completed poll (now), or on a group follower a heartbeat from the leader.
    pub fn mark_ok(&self) {
        self.last_ok_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// How long ago the last poll completed, or `None` if none has yet.
    pub fn since_last_poll(&self) -> Option<Duration> {
        let last = self.last_ok_ms.load(Ordering::Relaxed);
        if last == 0 {
            return None;
        }
        let now = chrono::Utc::now().timestamp_millis();
        Some(Duration::from_millis(
            u64::try_from(now - last).unwrap_or(0),
        ))
    }
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Reading the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Publishing failed; the cursor stays where it was.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// What one poll found.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    /// Something was published.
    any: bool,
    /// A read hit the batch limit, or a round lost its compare-and-set: poll again at once.
    full: bool,
}

/// How long to wait before the next poll after a successful one: at once when more is
/// waiting, [`ACTIVE_INTERVAL`] after rows and within [`ACTIVE_WINDOW`] of the last rows found,
/// else the idle `interval`.
fn next_wait(p: Progress, since_hit: Option<Duration>, interval: Duration) -> Duration {
    if p.full {
        Duration::ZERO
    } else if p.any || since_hit.is_some_and(|d| d < ACTIVE_WINDOW) {
        ACTIVE_INTERVAL.min(interval)
    } else {
        interval
    }
}

/// What the poller knows of the database beyond the published positions.
#[derive(Debug, Default)]
struct Sync {
    /// The round counter after this poller's last round or reconciliation (`None`: never).
    round: Option<i64>,
    /// The deletion count (snapshot and counter rows) at the last reconciliation.
    deletions: i64,
    /// When the last reconciliation ran.
    reconciled: Option<Instant>,
    /// Something may have been numbered but not published (an error, a lost compare-and-set).
    dirty: bool,
    /// The last numbering round failed: number one event per round until one succeeds. Names
    /// the database compares as equal but Rust does not (MySQL's case-insensitive collations:
    /// `Trend_A` and `trend_a` share one counter) would otherwise get the same `seq` in one
    /// round and fail it again and again.
    single: bool,
}

/// Polls the store and publishes changes.
pub struct Poller {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    config: PollerConfig,
    seed: Seed,
    status: Arc<PollerStatus>,
    wake: Arc<Notify>,
    sync: Sync,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("config", &self.config)
            .field("variants", &self.seed.heads.len())
            .field("round", &self.sync.round)
            .finish()
    }
}

impl Poller {
    /// A poller starting from `seed`.
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        seed: Seed,
        config: PollerConfig,
        status: Arc<PollerStatus>,
    ) -> Self {
        Self {
            store,
            bus,
            config,
            seed,
            status,
            wake: Arc::new(Notify::new()),
            sync: Sync::default(),
        }
    }

    /// Starts the poll loop and the database change listener under a child of `parent`.
    pub fn start(self, parent: &Supervisor) -> Component {
        Component::start(parent, "poller", |sup| async move {
            let (store, wake) = (self.store.clone(), self.wake.clone());
            sup.spawn("change-listener", |token| async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = store.listen_changes(wake) => {}
                }
            });
            self.run(sup.token().clone()).await;
        })
    }

    /// Runs until `cancel` fires.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = self.config.interval;
        let mut failing = false;
        let mut last_hit: Option<Instant> = None;
        loop {
            let started = Instant::now();
            let polled = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.poll_once() => r,
            };
            metrics::histogram!("signalgate_poll_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            let wait = match polled {
                Ok(p) => {
                    self.status.mark_ok();
                    if failing {
                        tracing::info!("poller recovered; resumed from its positions");
                        failing = false;
                    }
                    backoff = self.config.interval;
                    if p.any {
                        last_hit = Some(started);
                    }
                    next_wait(p, last_hit.map(|t| t.elapsed()), self.config.interval)
                }
                Err(err) => {
                    // Whatever the failed poll numbered is published by the reconciliation.
                    self.sync.dirty = true;
                    metrics::counter!("signalgate_poll_errors_total").increment(1);
                    if !failing {
                        tracing::warn!(error = %err, "poll failed; backing off and retrying");
                    }
                    failing = true;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified(), if !failing => {}
                _ = cancel.cancelled() => break,
            }
        }
    }

    /// Whether the probe shows something this poller did not do, or a reconciliation is due.
    fn must_reconcile(&self, probe: &Probe) -> bool {
        let s = &self.sync;
        s.dirty
            || s.round != Some(probe.round)
            || s.deletions != probe.deletions
            || self.seed.database != probe.database_id
            || s.reconciled.is_none_or(|t| t.elapsed() >= RECONCILE_EVERY)
    }

    async fn poll_once(&mut self) -> Result<Progress, PollError> {
        let probe = self.store.probe(self.config.batch).await?;
        metrics::gauge!("signalgate_pending_events").set(probe.events.len() as f64);
        let mut progress = Progress::default();
        if self.must_reconcile(&probe) {
            self.sync.dirty = true;
            metrics::counter!("signalgate_reconciles_total").increment(1);
            progress.any |= self.reconcile().await?;
            self.sync = Sync {
                round: Some(probe.round),
                deletions: probe.deletions,
                reconciled: Some(Instant::now()),
                dirty: false,
                single: self.sync.single,
            };
        }
        if probe.events.is_empty() && probe.snapshots.is_empty() {
            return Ok(progress);
        }
        let mut events = probe.events;
        let found = events.len();
        if self.sync.single {
            events.truncate(1);
        }
        let numbering = Numbering::plan(events);
        let marks: Vec<(i64, i64)> = probe
            .snapshots
            .iter()
            .map(|p| (p.id, p.snapshot.version))
            .collect();
        let numbered = self.store.number(probe.round, &numbering, &marks).await;
        // Only a refusal by the database, not an outage, suggests colliding names.
        self.sync.single = numbered.as_ref().is_err_and(|e| e.unavailable().is_none());
        if !numbered? {
            // Another gateway numbered since the probe: the next probe shows its round, and
            // this poller reconciles before it numbers anything.
            tracing::info!(round = probe.round, "another numbering round ran first");
            progress.full = true;
            return Ok(progress);
        }
        self.sync.round = Some(probe.round + 1);
        self.sync.dirty = true;
        let cut = numbering.events.len() < found;
        self.publish_numbered(numbering).await?;
        for p in probe.snapshots {
            progress.any |= self.publish_snapshot(&p.snapshot).await?;
        }
        self.sync.dirty = false;
        progress.any = true;
        progress.full |= probe.full || cut;
        Ok(progress)
    }

    fn version(&self, variant: &str, instance: &str) -> Option<i64> {
        self.seed.version(variant, instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_millis(100);
    const QUIET: Progress = Progress {
        any: false,
        full: false,
    };

    #[test]
    fn waits_adapt_to_recent_activity() {
        let full = Progress {
            any: true,
            full: true,
        };
        let hit = Progress {
            any: true,
            full: false,
        };
        assert_eq!(next_wait(full, Some(Duration::ZERO), IDLE), Duration::ZERO);
        assert_eq!(next_wait(hit, Some(Duration::ZERO), IDLE), ACTIVE_INTERVAL);
        // Shortly after rows were found: the active interval, not the idle one.
        let recent = Some(Duration::from_millis(500));
        assert_eq!(next_wait(QUIET, recent, IDLE), ACTIVE_INTERVAL);
        // Quiet for longer than the window, or never busy: back to the idle interval.
        assert_eq!(next_wait(QUIET, Some(ACTIVE_WINDOW), IDLE), IDLE);
        assert_eq!(next_wait(QUIET, None, IDLE), IDLE);
    }

    #[test]
    fn a_short_idle_interval_caps_the_others() {
        let tiny = Duration::from_millis(5);
        let hit = Progress {
            any: true,
            full: false,
        };
        assert_eq!(next_wait(hit, Some(Duration::ZERO), tiny), tiny);
        assert_eq!(next_wait(QUIET, Some(Duration::ZERO), tiny), tiny);
    }
}
