//! The live state of one gateway instance: the latest snapshot of every instance (served to
//! `/api/snapshot` and to subscribe acks) and, per variant, its history and the symbol
//! rooms in use. Bus messages are applied to it (`apply.rs`) and pushed through the
//! [`Fanout`](super::fanout::Fanout).
//!
//! # Ordering
//! Each variant has one lock. Applying a batch and answering a subscribe both take it, and
//! everything done under it is synchronous (queueing packets on sockets, joining rooms). So for
//! every socket the subscribe ack (with its `seq`) is queued before any live event of that
//! variant, and a live event is either inside the ack (`seq <= ack.seq`) or pushed after it,
//! never both and never neither. Database reads happen outside the lock.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use dashmap::DashMap;

pub(super) use super::variant::lock;
use super::{budget::HistoryBudget, variant::VariantState};
pub use super::{budget::HistoryStats, variant::Subscriptions};
use crate::{
    bus::{PublishedSnapshot, StreamPositions},
    store::{Store, StoreError},
};

/// Tunables of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Events kept per variant.
    pub ring_capacity: usize,
    /// Bytes of recent events kept for all variants together (`--history-budget`).
    pub history_budget: usize,
    /// Most events in one subscribe ack.
    pub resume_cap: u32,
    /// Most variants per socket.
    pub max_subscriptions: usize,
    /// Most symbols per subscribe.
    pub max_symbols: usize,
}

/// The realtime hub.
pub struct Hub {
    pub(super) store: Arc<dyn Store>,
    pub(super) limits: HubLimits,
    pub(super) snapshots: DashMap<String, BTreeMap<String, Arc<PublishedSnapshot>>>,
    variants: DashMap<String, Arc<Mutex<VariantState>>>,
    budget: Arc<HistoryBudget>,
    loaded: AtomicBool,
    /// The identity of the database the live state belongs to: the epoch every variant starts
    /// in (a reset moves a variant to `<identity>.<reset time>`). Empty until loaded.
    database_id: RwLock<String>,
    /// Every variant's summary (`subscribe_overview`, `/api/overview`).
    pub(super) overview: super::overview::Overview,
}

/// The database identity an epoch belongs to: epochs are `<identity>` (a variant's initial
/// epoch) or `<identity>.<reset>` (after a reset).
pub fn epoch_database(epoch: &str) -> &str {
    epoch.split_once('.').map_or(epoch, |(db, _)| db)
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("variants", &self.variants.len())
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl Hub {
    /// An empty hub over `store`.
    pub fn new(store: Arc<dyn Store>, limits: HubLimits) -> Self {
        Self {
            store,
            limits,
            snapshots: DashMap::new(),
            variants: DashMap::new(),
            budget: HistoryBudget::new(limits.history_budget),
            loaded: AtomicBool::new(false),
            database_id: RwLock::new(String::new()),
            overview: Default::default(),
        }
    }

    /// The hub's limits.
    pub fn limits(&self) -> HubLimits {
        self.limits
    }

    /// Loads the database identity, every snapshot and the current position of every variant
    /// from the database. Live events start after these positions.
    pub async fn load(&self) -> Result<(), StoreError> {
        let state = self.store.poll_state().await?;
        let snapshots = self.store.snapshots(None).await?;
        self.set_database_id(&state.database_id);
        for (variant, seq) in state.seqs {
            self.variants.entry(variant).or_insert_with(|| {
                Arc::new(Mutex::new(self.new_state(seq, state.database_id.clone())))
            });
        }
        for s in snapshots {
            match PublishedSnapshot::new(&s) {
                Ok(p) => {
                    self.snapshots
                        .entry(s.variant)
                        .or_default()
                        .insert(s.instance_id, p);
                }
                Err(err) => tracing::error!(error = %err, "cannot serialise snapshot"),
            }
        }
        self.rebuild_overview();
        self.loaded.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// The identity of the database the live state belongs to (empty before [`Hub::load`]):
    /// also the initial epoch of every variant.
    pub fn database_id(&self) -> String {
        self.database_id
            .read()
            .map(|id| id.clone())
            .unwrap_or_default()
    }

    /// Moves the live state to another database identity (a reset into it was applied).
    pub(super) fn set_database_id(&self, id: &str) {
        if let Ok(mut mine) = self.database_id.write()
            && *mine != id
        {
            if !mine.is_empty() {
                tracing::warn!(old = %mine, new = %id, "the database identity changed (recreated or restored): its variants start new epochs");
            }
            *mine = id.to_owned();
        }
    }

    /// Whether [`Hub::load`] has succeeded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// The positions to start a poller from: everything up to them has been applied here.
    pub fn seed(&self) -> StreamPositions {
        let mut seed = StreamPositions::default();
        let id = self.database_id();
        seed.database = id;
        for (variant, st) in self.entries() {
            seed.heads.insert(variant, lock(&st).history.head());
        }
        for e in self.snapshots.iter() {
            seed.versions.insert(
                e.key().clone(),
                e.value()
                    .iter()
                    .map(|(i, s)| (i.clone(), s.version))
                    .collect(),
            );
        }
        seed
    }

    /// Cached snapshots of a variant, optionally one instance, ordered by instance.
    pub fn snapshots(&self, variant: &str, instance: Option<&str>) -> Vec<Arc<PublishedSnapshot>> {
        self.snapshots
            .get(variant)
            .map(|m| {
                m.values()
                    .filter(|s| instance.is_none_or(|i| s.instance_id == i))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The state of `variant`, created if new.
    pub(super) fn variant(&self, variant: &str) -> Arc<Mutex<VariantState>> {
        if let Some(s) = self.variants.get(variant) {
            return s.clone();
        }
        self.variants
            .entry(variant.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(self.new_state(0, self.database_id()))))
            .clone()
    }

    fn new_state(&self, head: i64, epoch: String) -> VariantState {
        VariantState::new(head, self.limits.ring_capacity, epoch, self.budget.clone())
    }

    /// Every variant's state, collected first so no map guard is held while one is locked
    /// (`forget_if_unused` removes from the map under a variant lock).
    pub(super) fn states(&self) -> Vec<Arc<Mutex<VariantState>>> {
        self.variants.iter().map(|e| e.value().clone()).collect()
    }

    /// Every variant with its state, copied out of the map before any state is locked: holding
    /// a map guard while locking a variant would deadlock against `forget_if_unused`, which
    /// removes from the map under that variant's lock.
    pub(super) fn entries(&self) -> Vec<(String, Arc<Mutex<VariantState>>)> {
        self.variants
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    /// The shared byte budget of the rings.
    pub(super) fn history_budget(&self) -> &HistoryBudget {
        &self.budget
    }

    /// Bytes held by the rings, evictions and resume sources (for metrics).
    pub fn history_stats(&self) -> HistoryStats {
        self.budget.stats()
    }

    /// The state of `variant` if it exists (never creates one).
    pub(super) fn existing(&self, variant: &str) -> Option<Arc<Mutex<VariantState>>> {
        self.variants.get(variant).map(|s| s.clone())
    }

    /// Whether `st` is still the state of `variant` (it may have been forgotten meanwhile).
    pub(super) fn is_current(&self, variant: &str, st: &Arc<Mutex<VariantState>>) -> bool {
        self.variants
            .get(variant)
            .is_some_and(|cur| Arc::ptr_eq(&cur, st))
    }

    /// Forgets a variant nobody follows and the database does not have (no event position, no
    /// snapshot), so made-up names leave no state behind. Call with the variant's lock held.
    pub(super) fn forget_if_unused(&self, variant: &str, st: &VariantState) {
        if st.sockets == 0 && st.history.head() == 0 && !self.snapshots.contains_key(variant) {
            self.variants.remove(variant);
        }
    }

    /// Drops the socket's subscriptions (it disconnected or was cut off): room counts go down
    /// and unused variants are forgotten.
    pub fn detach(&self, subs: &Subscriptions) {
        let all = std::mem::take(&mut *subs.lock());
        for (variant, sub) in all {
            if let Some(st_arc) = self.existing(&variant) {
                let mut st = lock(&st_arc);
                st.leave(&sub.rooms);
                self.forget_if_unused(&variant, &st);
            }
        }
        // Rings that lost their last subscriber may exceed the unwatched share now.
        self.enforce_history_budget();
    }

    /// Subscribed sockets per variant (for metrics).
    pub fn subscriber_counts(&self) -> Vec<(String, usize)> {
        self.entries()
            .into_iter()
            .map(|(variant, st)| (variant, lock(&st).sockets))
            .collect()
    }

    /// The epoch of every variant that is not in the database's initial epoch (its identity;
    /// group heartbeats carry them, so every instance agrees on them).
    pub fn epochs(&self) -> HashMap<String, String> {
        let initial = self.database_id();
        self.all_epochs()
            .into_iter()
            .filter(|(_, epoch)| *epoch != initial)
            .collect()
    }

    /// The epoch of every variant the hub holds.
    pub fn all_epochs(&self) -> HashMap<String, String> {
        self.entries()
            .into_iter()
            .map(|(variant, st)| (variant, lock(&st).epoch.clone()))
            .collect()
    }

    /// How many variants the hub holds state for.
    pub fn variant_count(&self) -> usize {
        self.variants.len()
    }

    /// How many symbol rooms of `variant` are in use.
    pub fn symbol_room_count(&self, variant: &str) -> usize {
        self.existing(variant)
            .map_or(0, |st| lock(&st).symbol_rooms.len())
    }
}
