//! Per-variant state behind the variant's lock (history, epoch, room membership) and the
//! per-socket subscription map.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use super::{budget::HistoryBudget, history::History};
use crate::auth::Grants;

/// One socket's subscription to one variant: the rooms it joined and its delivery options.
#[derive(Debug, Clone, Default)]
pub(super) struct Subscription {
    /// Rooms joined.
    pub rooms: Vec<String>,
    /// `batch: true`: events come as one `event_batch` per fan-out step.
    pub batch: bool,
    /// `deltas: true`: instance → the snapshot version the client holds (what it was last
    /// sent); a change whose base is that version goes out as a `snapshot_delta`.
    pub held: Option<HashMap<String, i64>>,
}

/// What one socket is subscribed to: variant → subscription, and the grants of its token (fixed
/// for the connection's life). Kept in the socket's extensions: the fan-out reads both with one
/// lookup per socket and step.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    map: Arc<Mutex<BTreeMap<String, Subscription>>>,
    grants: Option<Arc<Grants>>,
}

impl Subscriptions {
    /// No subscription yet, for a connection with these grants (`None`: authentication off).
    pub fn new(grants: Option<Arc<Grants>>) -> Self {
        Self {
            map: Arc::default(),
            grants,
        }
    }

    /// Whether the connection's token, if any, grants `variant`.
    pub(super) fn allows(&self, variant: &str) -> bool {
        self.grants.as_ref().is_none_or(|g| g.allows(variant))
    }

    /// The map, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Subscription>> {
        lock(&self.map)
    }

    /// Forgets every subscription (the socket left its rooms).
    pub fn clear(&self) {
        self.lock().clear();
    }
}

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
    /// A fresh state at `head` in `epoch` (the database's initial epoch: its identity), its ring
    /// counted in `budget`.
    pub fn new(head: i64, capacity: usize, epoch: String, budget: Arc<HistoryBudget>) -> Self {
        Self {
            history: History::new(head, capacity, budget),
            epoch,
            symbol_rooms: HashMap::new(),
            sockets: 0,
        }
    }

    /// Accounts for a socket leaving `rooms` of this variant. Without subscribers left, its
    /// ring counts as unwatched (first to be trimmed by the budget).
    pub fn leave(&mut self, rooms: &[String]) {
        self.sockets = self.sockets.saturating_sub(1);
        self.history.set_watched(self.sockets > 0);
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
        self.history.set_watched(true);
        if symbol_rooms {
            for room in rooms {
                *self.symbol_rooms.entry(room.clone()).or_default() += 1;
            }
        }
    }
}

/// Locks a mutex, keeping the inner value if a panic poisoned it: a panic cannot leave this
/// state half-updated in a way that matters more than stopping the fan-out.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
