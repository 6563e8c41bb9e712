//! The commit-ordered poller: reads what changed in the database and publishes it on the bus.
//!
//! * Events: per variant, `seq > cursor` in `seq` order. `seq` is assigned in commit order by
//!   the database (see migrations), so a row with a smaller seq can never appear later: the
//!   cursor never skips and never repeats.
//! * Snapshots: the per-row `version` is compared with the last one seen; only changed variants'
//!   rows are fetched.
//! * Idle cost: two indexed reads of tiny tables (`monitor_signal_seq`, one row per variant, and
//!   the snapshot keys) per interval. PostgreSQL additionally wakes the poller by NOTIFY.
//! * No transaction is held across polls; every statement sees the latest committed data.
//! * Database errors: log, back off (up to 5 s), resume from the same cursors. Nothing is lost.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use tokio::sync::{Notify, watch};

use crate::{
    bus::{Bus, BusMessage, EventBatch},
    realtime::hub::Hub,
    store::{EventQuery, Store, StoreError},
};

/// After a poll that found rows, poll again this soon: under steady load an event waits at most
/// this long instead of a full idle interval.
const BUSY_INTERVAL: Duration = Duration::from_millis(10);
/// Longest back-off while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Poller settings.
#[derive(Debug, Clone, Copy)]
pub struct PollerConfig {
    /// Idle poll interval.
    pub interval: Duration,
    /// Most events per variant per read.
    pub batch: u32,
}

/// What one poll found.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    /// Something was published.
    any: bool,
    /// A read hit the batch limit: more is waiting.
    full: bool,
}

/// Polls the store and publishes changes.
pub struct Poller {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    config: PollerConfig,
    cursors: HashMap<String, i64>,
    /// variant → instance → last published version.
    versions: HashMap<String, HashMap<String, i64>>,
    wake: Arc<Notify>,
}

impl Poller {
    /// A poller starting from the hub's current positions (it publishes only what is newer).
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, hub: &Hub, config: PollerConfig) -> Self {
        let wake = Arc::new(Notify::new());
        {
            let s = store.clone();
            let w = wake.clone();
            tokio::spawn(async move { s.listen_changes(w).await });
        }
        Self {
            cursors: hub.heads().into_iter().collect(),
            versions: hub
                .versions()
                .into_iter()
                .fold(HashMap::new(), |mut m, (v, i, ver)| {
                    m.entry(v).or_insert_with(HashMap::new).insert(i, ver);
                    m
                }),
            store,
            bus,
            config,
            wake,
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = self.config.interval;
        let mut failing = false;
        loop {
            let wait = match self.poll_once().await {
                Ok(p) => {
                    if failing {
                        tracing::info!("database reachable again; poller resumed from its cursors");
                        failing = false;
                    }
                    backoff = self.config.interval;
                    if p.full {
                        Duration::ZERO
                    } else if p.any {
                        BUSY_INTERVAL.min(self.config.interval)
                    } else {
                        self.config.interval
                    }
                }
                Err(err) => {
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
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    async fn poll_once(&mut self) -> Result<Progress, StoreError> {
        let state = self.store.poll_state().await?;
        let mut progress = Progress::default();
        for (variant, v) in state.seqs {
            let cursor = self.cursors.get(&variant).copied().unwrap_or(0);
            if v <= cursor {
                continue;
            }
            let events = self
                .store
                .events(&EventQuery::after(&variant, cursor, self.config.batch))
                .await?;
            let full = events.len() >= self.config.batch as usize;
            let last = events.last().map_or(cursor, |e| e.seq);
            // A short read saw every event committed before `v` was read (seq order is commit
            // order), so positions up to `v` with no row were burnt by ignored inserts.
            let upto = if full { last } else { last.max(v) };
            progress.any |= !events.is_empty();
            progress.full |= full;
            self.publish(BusMessage::Events(EventBatch {
                variant: variant.clone(),
                after_seq: cursor,
                upto_seq: upto,
                events,
            }))
            .await?;
            self.cursors.insert(variant, upto);
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
                self.versions
                    .entry(snap.variant.clone())
                    .or_default()
                    .insert(snap.instance_id.clone(), snap.version);
                progress.any = true;
                self.publish(BusMessage::Snapshot(Arc::new(snap))).await?;
            }
        }
        Ok(progress)
    }

    fn version(&self, variant: &str, instance: &str) -> Option<i64> {
        self.versions.get(variant)?.get(instance).copied()
    }

    async fn publish(&self, msg: BusMessage) -> Result<(), StoreError> {
        // The consumer only goes away at shutdown; nothing to do then.
        let _ = self.bus.publish(msg).await;
        Ok(())
    }
}

/// Feeds bus messages into the hub until the bus closes.
pub async fn consume(bus: Arc<dyn Bus>, hub: Arc<Hub>) {
    let Some(mut rx) = bus.take_receiver() else {
        tracing::error!("bus receiver already taken");
        return;
    };
    while let Some(msg) = rx.recv().await {
        match msg {
            BusMessage::Events(batch) => hub.apply_events(batch).await,
            BusMessage::Snapshot(snap) => hub.apply_snapshot(snap),
        }
    }
}
