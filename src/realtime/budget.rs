//! One memory bound for the recent events of every variant (`--history-budget`).
//!
//! Every [`History`](super::history::History) reports the bytes its ring holds to one shared
//! [`HistoryBudget`] (two atomic counters: variants with subscribers, "watched", and variants
//! without). The fan-out path only adds and subtracts; when a bound is exceeded,
//! [`Hub::enforce_history_budget`] trims rings from their front (raising their floor, so the
//! ring invariant holds and older resumes read the database):
//!
//! - unwatched variants together hold at most 1/[`UNWATCHED_SHARE`] of the budget, and give
//!   up everything before a watched variant loses an event;
//! - within a class, the biggest rings are cut to a common level (max-min fair: a variant that
//!   holds less than the level keeps all of it).
//!
//! Eviction goes down to 7/8 of the bound it enforces ([`LOW_WATER_DIVISOR`]), so it runs once
//! per that many new bytes rather than on every batch; one caller evicts at a time and the
//! others go on (it re-checks the bound before it stops).

use std::sync::{
    Arc, Mutex, TryLockError,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use super::{
    hub::{Hub, lock},
    variant::VariantState,
};
use crate::bus::PublishedEvent;

/// Bytes counted for one event besides its JSON and symbol: the `Arc` header and
/// `PublishedEvent` (16 + 48), the ring slot (8), and the allocator's headers and rounding of
/// its three allocations (~3 × 16 + slack).
pub const EVENT_OVERHEAD: usize = 160;

/// Unwatched variants together may hold 1/8 of the budget (8 MiB of the default 64 MiB).
pub const UNWATCHED_SHARE: usize = 8;

/// Eviction stops at `bound - bound / 8`.
const LOW_WATER_DIVISOR: usize = 8;

/// Most eviction rounds per call: rings grow while one round runs; a bound that is still
/// exceeded after this many is left to the next batch.
const MAX_ROUNDS: usize = 4;

/// The bytes one event costs in a ring.
pub fn event_cost(e: &PublishedEvent) -> usize {
    EVENT_OVERHEAD + e.json.get().len() + e.vt_symbol.len()
}

/// The shared byte counters and eviction counters of all rings.
#[derive(Debug)]
pub struct HistoryBudget {
    limit: usize,
    watched: AtomicUsize,
    unwatched: AtomicUsize,
    evicted_capacity: AtomicU64,
    evicted_budget: AtomicU64,
    resumes_ring: AtomicU64,
    resumes_database: AtomicU64,
    evicting: Mutex<()>,
}

/// What the rings hold and what they gave up (for `/metrics` and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryStats {
    /// The budget (bytes).
    pub limit: usize,
    /// Bytes held by all rings.
    pub bytes: usize,
    /// Of those, bytes held by variants without subscribers.
    pub unwatched_bytes: usize,
    /// Events dropped because a ring reached `--ring-capacity`.
    pub evicted_capacity: u64,
    /// Events dropped to keep within the budget.
    pub evicted_budget: u64,
    /// Subscribes with `since_seq` answered from the ring alone.
    pub resumes_ring: u64,
    /// Subscribes with `since_seq` that read the database.
    pub resumes_database: u64,
}

impl HistoryBudget {
    /// A budget of `limit` bytes (at least 1).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            watched: AtomicUsize::new(0),
            unwatched: AtomicUsize::new(0),
            evicted_capacity: AtomicU64::new(0),
            evicted_budget: AtomicU64::new(0),
            resumes_ring: AtomicU64::new(0),
            resumes_database: AtomicU64::new(0),
            evicting: Mutex::new(()),
        })
    }

    fn class(&self, watched: bool) -> &AtomicUsize {
        if watched {
            &self.watched
        } else {
            &self.unwatched
        }
    }

    /// A ring of the given class took `n` more bytes.
    pub(super) fn add(&self, watched: bool, n: usize) {
        self.class(watched).fetch_add(n, Ordering::SeqCst);
    }

    /// A ring of the given class released `n` bytes.
    pub(super) fn sub(&self, watched: bool, n: usize) {
        self.class(watched).fetch_sub(n, Ordering::SeqCst);
    }

    /// A ring holding `n` bytes changed class.
    pub(super) fn moved(&self, to_watched: bool, n: usize) {
        self.sub(!to_watched, n);
        self.add(to_watched, n);
    }

    /// Counts events evicted by `--ring-capacity` (`capacity`) or by the budget.
    pub(super) fn count_evicted(&self, capacity: bool, n: u64) {
        let c = if capacity {
            &self.evicted_capacity
        } else {
            &self.evicted_budget
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a resume answered from the ring alone or with a database read.
    pub(super) fn count_resume(&self, from_database: bool) {
        let c = if from_database {
            &self.resumes_database
        } else {
            &self.resumes_ring
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn unwatched_limit(&self) -> usize {
        self.limit / UNWATCHED_SHARE
    }

    /// Whether a bound is exceeded: the whole budget, or the unwatched share.
    pub fn over(&self) -> bool {
        let (w, u) = self.held();
        w + u > self.limit || u > self.unwatched_limit()
    }

    fn held(&self) -> (usize, usize) {
        (
            self.watched.load(Ordering::SeqCst),
            self.unwatched.load(Ordering::SeqCst),
        )
    }

    /// Current counters.
    pub fn stats(&self) -> HistoryStats {
        let (w, u) = self.held();
        HistoryStats {
            limit: self.limit,
            bytes: w + u,
            unwatched_bytes: u,
            evicted_capacity: self.evicted_capacity.load(Ordering::Relaxed),
            evicted_budget: self.evicted_budget.load(Ordering::Relaxed),
            resumes_ring: self.resumes_ring.load(Ordering::Relaxed),
            resumes_database: self.resumes_database.load(Ordering::Relaxed),
        }
    }
}

fn low_water(bound: usize) -> usize {
    bound - bound / LOW_WATER_DIVISOR
}

/// The highest level such that cutting every size above it down to it leaves a total of at
/// most `target`; `usize::MAX` when the sizes already fit.
pub fn water_level(sizes: &[usize], target: usize) -> usize {
    if sizes.iter().sum::<usize>() <= target {
        return usize::MAX;
    }
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let mut remaining = target;
    for (i, &s) in sorted.iter().enumerate() {
        let left = sorted.len() - i;
        if s.saturating_mul(left) <= remaining {
            remaining -= s;
        } else {
            return remaining / left;
        }
    }
    usize::MAX
}

type Held = (Arc<Mutex<VariantState>>, usize);

/// Cuts the rings in `held` down to a common level so they total at most `target`.
fn trim_class(held: &[Held], target: usize) {
    let sizes: Vec<usize> = held.iter().map(|(_, b)| *b).collect();
    let level = water_level(&sizes, target);
    if level == usize::MAX {
        return;
    }
    for (st, bytes) in held {
        if *bytes > level {
            lock(st).history.trim_to(level);
        }
    }
}

impl Hub {
    /// Trims rings until the budget's bounds hold again (see the module notes). Cheap when
    /// they hold. Call without any variant lock held.
    pub(super) fn enforce_history_budget(&self) {
        let budget = self.history_budget();
        for _ in 0..MAX_ROUNDS {
            if !budget.over() {
                return;
            }
            let _guard = match budget.evicting.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // Another caller is evicting; it re-checks the bounds before it stops.
                Err(TryLockError::WouldBlock) => return,
            };
            let (mut watched, mut unwatched) = (Vec::new(), Vec::new());
            for st in self.states() {
                let s = lock(&st);
                let bytes = s.history.bytes();
                if bytes > 0 {
                    let class = if s.history.is_watched() {
                        &mut watched
                    } else {
                        &mut unwatched
                    };
                    drop(s);
                    class.push((st, bytes));
                }
            }
            let (w, u) = budget.held();
            let over_total = w + u > budget.limit;
            if over_total || u > budget.unwatched_limit() {
                let mut target = low_water(budget.unwatched_limit());
                if over_total {
                    target = target.min(low_water(budget.limit).saturating_sub(w));
                }
                trim_class(&unwatched, target);
            }
            if over_total {
                let (_, u) = budget.held();
                trim_class(&watched, low_water(budget.limit).saturating_sub(u));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_level_is_max_min_fair() {
        assert_eq!(water_level(&[10, 20, 30], 100), usize::MAX, "fits");
        // 10 stays whole; 20 and 30 share the remaining 40 → 20 each.
        assert_eq!(water_level(&[30, 10, 20], 50), 20);
        // All equal: an even cut.
        assert_eq!(water_level(&[40, 40, 40, 40], 100), 25);
        assert_eq!(water_level(&[5, 1000], 0), 0);
        for (sizes, target) in [
            (vec![7, 3, 99, 42, 42, 1], 60),
            (vec![1; 50], 17),
            (vec![1000, 1], 500),
        ] {
            let level = water_level(&sizes, target);
            let total: usize = sizes.iter().map(|s| (*s).min(level)).sum();
            assert!(total <= target, "{sizes:?} → {level}: {total} > {target}");
            let more: usize = sizes.iter().map(|s| (*s).min(level + 1)).sum();
            assert!(more > target, "{sizes:?}: level {level} is not the highest");
        }
    }

    #[test]
    fn bounds_and_classes() {
        let b = HistoryBudget::new(8000);
        b.add(true, 7000);
        assert!(!b.over());
        b.add(false, 999);
        assert!(!b.over(), "unwatched within 1/8");
        b.add(false, 2);
        assert!(b.over(), "unwatched share exceeded");
        b.sub(false, 1001);
        b.add(true, 1001);
        assert!(b.over(), "total exceeded");
        b.moved(false, 500);
        let s = b.stats();
        assert_eq!((s.bytes, s.unwatched_bytes), (8001, 500));
    }
}
