//! The live state of one gateway instance: the latest snapshot of every instance (served to
//! `/api/snapshot` and to subscribe acks) and, per variant, its [`History`] and the symbol
//! rooms in use. Bus messages are applied here and pushed through the [`Fanout`].
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
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use dashmap::DashMap;

use super::{
    fanout::Fanout,
    history::History,
    protocol::{symbol_room, variant_room},
};
use crate::{
    bus::{EventBatch, PublishedEvent, PublishedSnapshot, StreamReset},
    poller::Seed,
    store::{EventQuery, Store, StoreError},
};

/// Rows per read when refilling a gap from the database.
const GAP_PAGE: u32 = 1000;

/// Tunables of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Events kept per variant.
    pub ring_capacity: usize,
    /// Most events in one subscribe ack.
    pub resume_cap: u32,
    /// Most variants per socket.
    pub max_subscriptions: usize,
    /// Most symbols per subscribe.
    pub max_symbols: usize,
}

/// What one socket is subscribed to: variant → rooms joined. Kept in the socket's extensions.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions(Arc<Mutex<BTreeMap<String, Vec<String>>>>);

impl Subscriptions {
    /// The map, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<String>>> {
        lock(&self.0)
    }

    /// Forgets every subscription (the socket left its rooms).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// The epoch every variant starts in; a detected reset moves it to a new, unique value.
pub const INITIAL_EPOCH: &str = "0";

/// Per-variant live state, behind the variant's lock.
#[derive(Debug)]
pub(super) struct VariantState {
    /// Position and recent events.
    pub history: History,
    /// Which database history `history` belongs to (see [`StreamReset`]).
    pub epoch: String,
    /// Symbol rooms in use → how many sockets joined each (snapshot updates go to them too).
    /// A room is forgotten when its last member leaves.
    pub symbol_rooms: HashMap<String, usize>,
    /// Sockets subscribed to the variant.
    pub sockets: usize,
}

impl VariantState {
    fn new(head: i64, capacity: usize) -> Self {
        Self {
            history: History::new(head, capacity),
            epoch: INITIAL_EPOCH.to_owned(),
            symbol_rooms: HashMap::new(),
            sockets: 0,
        }
    }

    /// Accounts for a socket leaving `rooms` of this variant.
    pub fn leave(&mut self, rooms: &[String]) {
        self.sockets = self.sockets.saturating_sub(1);
        for room in rooms {
            if let Some(n) = self.symbol_rooms.get_mut(room) {
                *n -= 1;
                if *n == 0 {
                    self.symbol_rooms.remove(room);
                }
            }
        }
    }

    /// Accounts for a socket joining `rooms` (symbol rooms are counted).
    pub fn join(&mut self, rooms: &[String], symbol_rooms: bool) {
        self.sockets += 1;
        if symbol_rooms {
            for room in rooms {
                *self.symbol_rooms.entry(room.clone()).or_default() += 1;
            }
        }
    }
}

/// The realtime hub.
pub struct Hub {
    pub(super) store: Arc<dyn Store>,
    limits: HubLimits,
    snapshots: DashMap<String, BTreeMap<String, Arc<PublishedSnapshot>>>,
    variants: DashMap<String, Arc<Mutex<VariantState>>>,
    loaded: AtomicBool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("variants", &self.variants.len())
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

/// Locks a mutex, keeping the inner value if a panic poisoned it: a panic cannot leave this
/// state half-updated in a way that matters more than stopping the fan-out.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// An empty hub over `store`.
    pub fn new(store: Arc<dyn Store>, limits: HubLimits) -> Self {
        Self {
            store,
            limits,
            snapshots: DashMap::new(),
            variants: DashMap::new(),
            loaded: AtomicBool::new(false),
        }
    }

    /// The hub's limits.
    pub fn limits(&self) -> HubLimits {
        self.limits
    }

    /// Loads every snapshot and the current position of every variant from the database. Live
    /// events start after these positions.
    pub async fn load(&self) -> Result<(), StoreError> {
        let state = self.store.poll_state().await?;
        let snapshots = self.store.snapshots(None).await?;
        for (variant, seq) in state.seqs {
            self.variants.entry(variant).or_insert_with(|| {
                Arc::new(Mutex::new(VariantState::new(
                    seq,
                    self.limits.ring_capacity,
                )))
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
        self.loaded.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether [`Hub::load`] has succeeded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// The positions to start a poller from: everything up to them has been applied here.
    pub fn seed(&self) -> Seed {
        let mut seed = Seed::default();
        for e in self.variants.iter() {
            seed.heads
                .insert(e.key().clone(), lock(e.value()).history.head());
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
            .or_insert_with(|| {
                Arc::new(Mutex::new(VariantState::new(0, self.limits.ring_capacity)))
            })
            .clone()
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
        for (variant, rooms) in all {
            if let Some(st_arc) = self.existing(&variant) {
                let mut st = lock(&st_arc);
                st.leave(&rooms);
                self.forget_if_unused(&variant, &st);
            }
        }
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

    /// Starts a new epoch for a variant whose database history went backwards: drops its ring
    /// and cached snapshots and tells its subscribers (`stream_reset`) to start from scratch.
    pub fn reset(&self, reset: StreamReset, fanout: &Fanout) {
        let st_arc = self.variant(&reset.variant);
        let mut st = lock(&st_arc);
        st.history = History::new(reset.head, self.limits.ring_capacity);
        st.epoch = reset.epoch.clone();
        self.snapshots.remove(&reset.variant);
        let json = serde_json::json!({
            "variant": reset.variant,
            "epoch": reset.epoch,
            "seq": reset.head,
        });
        let Ok(json) = serde_json::value::to_raw_value(&json) else {
            return;
        };
        let mut rooms: Vec<String> = st.symbol_rooms.keys().cloned().collect();
        rooms.push(variant_room(&reset.variant));
        let slow = fanout.emit(rooms, "stream_reset", &json);
        drop(st);
        self.cut_off(slow, fanout);
    }

    /// Cuts off slow sockets and drops their subscriptions.
    fn cut_off(&self, slow: Vec<socketioxide::extract::SocketRef>, fanout: &Fanout) {
        for socket in &slow {
            if let Some(subs) = socket.extensions.get::<Subscriptions>() {
                self.detach(&subs);
            }
        }
        fanout.cut_off(slow);
    }

    /// Applies a snapshot change: caches it and pushes `snapshot_update` to the variant's rooms.
    pub fn apply_snapshot(&self, snap: Arc<PublishedSnapshot>, fanout: &Fanout) {
        let st = self.variant(&snap.variant);
        let st = lock(&st);
        {
            let mut entry = self.snapshots.entry(snap.variant.clone()).or_default();
            if entry
                .get(&snap.instance_id)
                .is_some_and(|old| old.version == snap.version)
            {
                return; // already applied (duplicate delivery)
            }
            entry.insert(snap.instance_id.clone(), snap.clone());
        }
        let mut rooms: Vec<String> = st.symbol_rooms.keys().cloned().collect();
        rooms.push(variant_room(&snap.variant));
        let slow = fanout.emit(rooms, "snapshot_update", &snap.json);
        drop(st);
        self.cut_off(slow, fanout);
    }

    /// Applies a batch of events: fills any gap from the database, appends to the history and
    /// pushes `event_new` to the rooms, in seq order, each event once.
    pub async fn apply_events(&self, batch: EventBatch, fanout: &Fanout) {
        let st_arc = self.variant(&batch.variant);
        let head = lock(&st_arc).history.head();
        if batch.upto_seq <= head {
            return; // nothing new (duplicate delivery)
        }
        let mut events = Vec::new();
        if batch.after_seq > head {
            // We missed (head, after_seq]: read it back before going on, so nothing is lost.
            tracing::warn!(variant = %batch.variant, head, after_seq = batch.after_seq, "gap in event stream; filling from database");
            events = self.fill_gap(&batch.variant, head, batch.after_seq).await;
        }
        events.extend(batch.events);
        let mut st = lock(&st_arc);
        let fresh = st.history.apply(events, batch.upto_seq);
        let mut slow = Vec::new();
        for p in fresh {
            let rooms = vec![
                variant_room(&batch.variant),
                symbol_room(&batch.variant, &p.vt_symbol),
            ];
            slow.extend(fanout.emit(rooms, "event_new", &p.json));
        }
        drop(st);
        self.cut_off(slow, fanout);
    }

    async fn fill_gap(&self, variant: &str, from: i64, to: i64) -> Vec<Arc<PublishedEvent>> {
        // Retry with back-off: giving up would lose events for every subscriber.
        let mut delay = Duration::from_millis(100);
        let mut out = Vec::new();
        let mut cursor = from;
        while cursor < to {
            match self
                .store
                .events(&EventQuery::after(variant, cursor, GAP_PAGE))
                .await
            {
                Ok(rows) => {
                    let done = rows.len() < GAP_PAGE as usize;
                    for e in rows.iter().filter(|e| e.seq <= to) {
                        cursor = e.seq;
                        match PublishedEvent::new(e) {
                            Ok(p) => out.push(p),
                            Err(err) => tracing::error!(error = %err, "cannot serialise event"),
                        }
                    }
                    if done {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "gap fill failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        out
    }
}
