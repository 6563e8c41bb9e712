//! The commit-ordered poller: reads what changed in the database and publishes it on the bus.
//!
//! * Events: per variant, `seq > cursor` in `seq` order. `seq` is assigned in commit order by
//!   the database (see migrations), so a row with a smaller seq can never appear later: the
//!   cursor never skips and never repeats.
//! * Snapshots: the per-row `version` is compared with the last one published; only changed
//!   variants' rows are fetched.
//! * Idle cost: two indexed reads of tiny tables (`monitor_signal_seq`, one row per variant, and
//!   the snapshot keys) per interval. PostgreSQL additionally wakes the poller by NOTIFY.
//! * No transaction is held across polls; every statement sees the latest committed data.
//! * Errors (database or bus): log, back off (up to 5 s), resume from the same cursors. A cursor
//!   or version only moves after its message was published, so nothing is lost.
//!
//! The poller is a [`Component`]: started from plain positions ([`Seed`]) and stopped on its
//! own (scale-out stops it when this instance loses leadership).

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{Bus, BusError, BusMessage, EventBatch, PublishedEvent, PublishedSnapshot, StreamReset},
    lifecycle::{Component, Supervisor},
    store::{EventQuery, PollState, Store, StoreError},
};

/// After a poll that found rows, poll again this soon: under steady load an event waits at most
/// this long instead of a full idle interval.
const BUSY_INTERVAL: Duration = Duration::from_millis(10);
/// For this long after a poll that found rows, an empty poll is followed by the next one after
/// [`ACTIVE_INTERVAL`] rather than the idle interval: a strategy that just wrote usually writes
/// again soon (light, steady traffic waits at most 20 ms, not 100), while a quiet database is
/// still polled only at the idle interval.
const ACTIVE_WINDOW: Duration = Duration::from_secs(2);
/// Poll interval inside [`ACTIVE_WINDOW`] (capped by the idle interval).
const ACTIVE_INTERVAL: Duration = Duration::from_millis(20);
/// Longest back-off while the database or the bus fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Poller settings.
#[derive(Debug, Clone, Copy)]
pub struct PollerConfig {
    /// Idle poll interval.
    pub interval: Duration,
    /// Most events per variant per read.
    pub batch: u32,
}

/// Where the poller starts: it publishes only what is newer than these positions.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// The identity of the database these positions belong to (`None`: not known yet).
    pub database_id: Option<String>,
    /// variant → last published seq.
    pub heads: HashMap<String, i64>,
    /// variant → instance → last published snapshot version.
    pub versions: HashMap<String, HashMap<String, i64>>,
}

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
    /// A read hit the batch limit: more is waiting.
    full: bool,
}

/// How long to wait before the next poll after a successful one: at once when a read was cut
/// by the batch size, [`BUSY_INTERVAL`] after finding rows, [`ACTIVE_INTERVAL`] within
/// [`ACTIVE_WINDOW`] of the last rows found, else the idle `interval`.
fn next_wait(p: Progress, since_hit: Option<Duration>, interval: Duration) -> Duration {
    if p.full {
        Duration::ZERO
    } else if p.any {
        BUSY_INTERVAL.min(interval)
    } else if since_hit.is_some_and(|d| d < ACTIVE_WINDOW) {
        ACTIVE_INTERVAL.min(interval)
    } else {
        interval
    }
}

/// Polls the store and publishes changes.
pub struct Poller {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    config: PollerConfig,
    seed: Seed,
    status: Arc<PollerStatus>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("config", &self.config)
            .field("variants", &self.seed.heads.len())
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
        let mut last_hit: Option<std::time::Instant> = None;
        loop {
            let started = std::time::Instant::now();
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
                        tracing::info!("poller recovered; resumed from its cursors");
                        failing = false;
                    }
                    backoff = self.config.interval;
                    if p.any {
                        last_hit = Some(started);
                    }
                    next_wait(p, last_hit.map(|t| t.elapsed()), self.config.interval)
                }
                Err(err) => {
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

    async fn poll_once(&mut self) -> Result<Progress, PollError> {
        let state = self.store.poll_state().await?;
        let mut progress = Progress::default();
        self.detect_resets(&state).await?;
        for (variant, v) in state.seqs {
            let cursor = self.seed.heads.get(&variant).copied().unwrap_or(0);
            crate::metrics::learn_variant(&variant);
            // Committed but not yet published when this poll began.
            let label = crate::metrics::variant_label(&variant);
            metrics::gauge!("signalgate_event_lag", "variant" => label)
                .set((v - cursor).max(0) as f64);
            if v <= cursor {
                continue;
            }
            let rows = self
                .store
                .events(&EventQuery::after(&variant, cursor, self.config.batch))
                .await?;
            let full = rows.len() >= self.config.batch as usize;
            let last = rows.last().map_or(cursor, |e| e.seq);
            // A short read saw every event committed before `v` was read (seq order is commit
            // order), so positions up to `v` with no row were burnt by ignored inserts.
            let upto = if full { last } else { last.max(v) };
            progress.any |= !rows.is_empty();
            let now = chrono::Utc::now();
            for e in &rows {
                // From the writer's created_at to publication (emission follows at once).
                let age = (now - e.created_at).to_std().unwrap_or_default();
                metrics::histogram!("signalgate_commit_to_emit_seconds").record(age.as_secs_f64());
            }
            progress.full |= full;
            let events = rows
                .iter()
                .filter_map(|e| match PublishedEvent::new(e) {
                    Ok(p) => Some(p),
                    Err(err) => {
                        tracing::error!(error = %err, seq = e.seq, "cannot serialise event");
                        None
                    }
                })
                .collect();
            self.bus
                .publish(BusMessage::Events(EventBatch {
                    variant: variant.clone(),
                    after_seq: cursor,
                    upto_seq: upto,
                    events,
                }))
                .await?;
            self.seed.heads.insert(variant, upto);
        }

        // Compared by reference: the idle poll allocates nothing per snapshot row.
        let changed: HashSet<String> = state
            .versions
            .into_iter()
            .filter(|(v, i, ver)| self.version(v, i) != Some(*ver))
            .map(|(v, _, _)| v)
            .collect();
        for variant in changed {
            for snap in self.store.snapshots(Some(&variant)).await? {
                if self.version(&snap.variant, &snap.instance_id) == Some(snap.version) {
                    continue;
                }
                let published = match PublishedSnapshot::new(&snap) {
                    Ok(p) => p,
                    Err(err) => {
                        tracing::error!(error = %err, "cannot serialise snapshot");
                        continue;
                    }
                };
                self.bus.publish(BusMessage::Snapshot(published)).await?;
                progress.any = true;
                self.seed
                    .versions
                    .entry(snap.variant)
                    .or_default()
                    .insert(snap.instance_id, snap.version);
            }
        }
        Ok(progress)
    }

    /// What changed beneath the published positions: variants whose history was replaced, and
    /// whether the whole database was (its identity changed). See [`Poller::detect_resets`].
    fn vanished(&self, state: &PollState) -> (BTreeSet<String>, bool) {
        let replaced = self
            .seed
            .database_id
            .as_ref()
            .is_some_and(|id| *id != state.database_id);
        if replaced {
            let all = self.seed.heads.keys().chain(self.seed.versions.keys());
            return (all.cloned().collect(), true);
        }
        let db_heads: HashMap<&str, i64> =
            state.seqs.iter().map(|(v, s)| (v.as_str(), *s)).collect();
        // A counter below what was published, or gone.
        let mut resets: BTreeSet<String> = self
            .seed
            .heads
            .iter()
            .filter(|(v, published)| db_heads.get(v.as_str()).copied().unwrap_or(0) < **published)
            .map(|(v, _)| v.clone())
            .collect();
        // A snapshot version below what was published.
        let mut rows: HashSet<(&str, &str)> = HashSet::with_capacity(state.versions.len());
        for (variant, instance, version) in &state.versions {
            rows.insert((variant, instance));
            if self
                .version(variant, instance)
                .is_some_and(|p| p > *version)
            {
                resets.insert(variant.clone());
            }
        }
        // A published snapshot row that is gone (deleted, or the variant disappeared).
        for (variant, instances) in &self.seed.versions {
            if instances
                .keys()
                .any(|i| !rows.contains(&(variant.as_str(), i.as_str())))
            {
                resets.insert(variant.clone());
            }
        }
        (resets, false)
    }

    /// A variant whose counter or snapshot version is *lower* than what was published, or whose
    /// published counter or snapshot row is gone, has a new history (the database was
    /// recreated or restored from an older backup, or rows were deleted); so has every variant
    /// when the database identity changed. Its seq numbers mean something else now: publish a
    /// new epoch so every instance drops what it holds and clients start from scratch, then
    /// continue from the database's position. An epoch is `<database identity>` (the initial
    /// one: a new database) or `<database identity>.<reset time>`.
    async fn detect_resets(&mut self, state: &PollState) -> Result<(), PollError> {
        let (resets, replaced) = self.vanished(state);
        if replaced {
            tracing::error!(
                old = self.seed.database_id.as_deref().unwrap_or_default(),
                new = %state.database_id,
                variants = resets.len(),
                "the database identity changed (recreated, or restored from another database); every variant starts a new epoch"
            );
        }
        let db_heads: HashMap<&str, i64> =
            state.seqs.iter().map(|(v, s)| (v.as_str(), *s)).collect();
        for variant in resets {
            let head = db_heads.get(variant.as_str()).copied().unwrap_or(0);
            let published = self.seed.heads.get(&variant).copied().unwrap_or(0);
            let epoch = if replaced {
                state.database_id.clone()
            } else {
                format!(
                    "{}.{:x}",
                    state.database_id,
                    chrono::Utc::now().timestamp_micros()
                )
            };
            tracing::error!(
                %variant,
                published,
                database = head,
                %epoch,
                "the database's history of this variant went backwards or rows vanished (recreated, restored from an older backup, or deleted); starting a new epoch: subscribers are told to reload"
            );
            self.bus
                .publish(BusMessage::Reset(StreamReset {
                    variant: variant.clone(),
                    epoch,
                    head,
                }))
                .await?;
            self.seed.heads.insert(variant.clone(), head);
            // Every snapshot of the variant is published again, whatever its version.
            self.seed.versions.remove(&variant);
        }
        self.seed.database_id = Some(state.database_id.clone());
        Ok(())
    }

    fn version(&self, variant: &str, instance: &str) -> Option<i64> {
        self.seed.versions.get(variant)?.get(instance).copied()
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
        assert_eq!(next_wait(hit, Some(Duration::ZERO), IDLE), BUSY_INTERVAL);
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
