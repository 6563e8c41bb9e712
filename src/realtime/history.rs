//! The recent history of one variant: how far it has been published (`head`), and a bounded
//! ring of the latest events so most resumes need no database query.
//!
//! No I/O, no Socket.IO, no locking (the hub holds it under the variant's lock). The ring is
//! bounded twice: at most `capacity` events (`--ring-capacity`), and its bytes count against
//! the shared [`HistoryBudget`], which may [`trim`](History::trim_to) it.
//!
//! Invariant: the ring holds **every** event with `floor < seq <= head`, ascending. Dropping
//! events only ever happens at the front and raises the floor to the last one dropped.

use std::{collections::VecDeque, sync::Arc};

use super::budget::{HistoryBudget, event_cost};
use crate::bus::PublishedEvent;

/// Head, floor and ring of one variant.
#[derive(Debug)]
pub struct History {
    head: i64,
    floor: i64,
    ring: VecDeque<Arc<PublishedEvent>>,
    capacity: usize,
    /// Bytes the ring holds (the sum of [`event_cost`]), counted in `budget` too.
    bytes: usize,
    /// Whether the variant has subscribers (which class of the budget `bytes` counts in).
    watched: bool,
    budget: Arc<HistoryBudget>,
}

impl History {
    /// An empty, unwatched history positioned at `head` (nothing before it is kept).
    pub fn new(head: i64, capacity: usize, budget: Arc<HistoryBudget>) -> Self {
        Self {
            head,
            floor: head,
            ring: VecDeque::new(),
            capacity: capacity.max(1),
            bytes: 0,
            watched: false,
            budget,
        }
    }

    /// Empties the ring and positions it at `head` (a new history of the database).
    pub fn reset(&mut self, head: i64) {
        self.budget.sub(self.watched, self.bytes);
        self.ring = VecDeque::new();
        self.bytes = 0;
        self.head = head;
        self.floor = head;
    }

    /// Every event with `seq <= head` has been published.
    pub fn head(&self) -> i64 {
        self.head
    }

    /// The ring answers resumes from any position `>= floor`.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Applies a batch that holds every event in `(.., upto]` it has not seen: events at or
    /// below `head` are skipped (duplicate delivery), the rest are appended, and `head` moves
    /// to `upto` (positions without a row were pruned, or burnt before migration 0005). Returns the events
    /// that are new, in order: exactly those to push to subscribers.
    pub fn apply(
        &mut self,
        events: impl IntoIterator<Item = Arc<PublishedEvent>>,
        upto: i64,
    ) -> Vec<Arc<PublishedEvent>> {
        let mut fresh = Vec::new();
        for event in events {
            if event.seq <= self.head {
                continue;
            }
            self.head = event.seq;
            let cost = event_cost(&event);
            self.bytes += cost;
            self.budget.add(self.watched, cost);
            self.ring.push_back(event.clone());
            fresh.push(event);
        }
        let mut dropped = 0;
        while self.ring.len() > self.capacity && self.pop_front() {
            dropped += 1;
        }
        if dropped > 0 {
            self.budget.count_evicted(true, dropped);
        }
        if upto > self.head {
            if self.ring.is_empty() {
                // Nothing held, nothing missing: the ring is complete from `upto` on.
                self.floor = upto;
            }
            self.head = upto;
        }
        fresh
    }

    /// The events after `after` (up to `head`), if the ring holds all of them; `None` when
    /// `after` is below the floor and the database must be read.
    pub fn since(&self, after: i64) -> Option<impl Iterator<Item = &Arc<PublishedEvent>>> {
        if after < self.floor {
            return None;
        }
        // Ascending: skip what is at or below `after` by binary search.
        let start = self.ring.partition_point(|e| e.seq <= after);
        Some(self.ring.range(start..))
    }

    /// Bytes the ring holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the variant has subscribers.
    pub fn is_watched(&self) -> bool {
        self.watched
    }

    /// Moves the ring's bytes to the watched or unwatched class of the budget.
    pub fn set_watched(&mut self, watched: bool) {
        if watched != self.watched {
            self.budget.moved(watched, self.bytes);
            self.watched = watched;
        }
    }

    /// Drops the oldest events until the ring holds at most `level` bytes (raising the
    /// floor); returns how many were dropped.
    pub fn trim_to(&mut self, level: usize) -> u64 {
        let mut dropped = 0;
        while self.bytes > level && self.pop_front() {
            dropped += 1;
        }
        if dropped > 0 {
            self.budget.count_evicted(false, dropped);
        }
        dropped
    }

    /// Drops the oldest event, if any; the floor becomes its seq.
    fn pop_front(&mut self) -> bool {
        let Some(old) = self.ring.pop_front() else {
            return false;
        };
        let cost = event_cost(&old);
        self.bytes -= cost;
        self.budget.sub(self.watched, cost);
        self.floor = old.seq;
        true
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.budget.sub(self.watched, self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn ev(seq: i64) -> Arc<PublishedEvent> {
        Arc::new(PublishedEvent {
            seq,
            vt_symbol: "a.X".into(),
            json: RawValue::from_string(seq.to_string()).expect("json"),
        })
    }

    fn unlimited() -> Arc<HistoryBudget> {
        HistoryBudget::new(usize::MAX)
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Arc<PublishedEvent>>) -> Vec<i64> {
        it.map(|e| e.seq).collect()
    }

    #[test]
    fn applies_in_order_and_drops_duplicates() {
        let mut h = History::new(10, 8, unlimited());
        let fresh = h.apply([ev(11), ev(12)], 12);
        assert_eq!(seqs(fresh.iter()), vec![11, 12]);
        // Redelivery of 12 plus a new 13: only 13 is new.
        let fresh = h.apply([ev(12), ev(13)], 13);
        assert_eq!(seqs(fresh.iter()), vec![13]);
        assert_eq!(h.head(), 13);
        // A batch entirely in the past changes nothing.
        assert!(h.apply([ev(11)], 11).is_empty());
        assert_eq!(h.head(), 13);
    }

    #[test]
    fn burnt_positions_move_head_and_keep_ring_complete() {
        let mut h = History::new(0, 8, unlimited());
        assert!(h.apply([], 5).is_empty());
        assert_eq!((h.head(), h.floor()), (5, 5), "empty ring: complete from 5");
        h.apply([ev(6)], 9);
        assert_eq!((h.head(), h.floor()), (9, 5));
        assert_eq!(seqs(h.since(5).expect("in ring")), vec![6]);
        assert_eq!(seqs(h.since(7).expect("in ring")), Vec::<i64>::new());
        assert!(h.since(4).is_none(), "below the floor needs the database");
    }

    #[test]
    fn ring_is_bounded_and_floor_follows() {
        let mut h = History::new(0, 3, unlimited());
        h.apply((1..=5).map(ev), 5);
        assert_eq!(h.floor(), 2);
        assert_eq!(seqs(h.since(2).expect("in ring")), vec![3, 4, 5]);
        assert_eq!(seqs(h.since(4).expect("in ring")), vec![5]);
        assert!(h.since(1).is_none());
        assert_eq!(seqs(h.since(5).expect("at head")), Vec::<i64>::new());
    }

    #[test]
    fn replay_window_matches_a_full_log() {
        // Property: for any sequence of batches with burnt gaps, `since(x)` for every x >= floor
        // equals the events of a complete log with seq > x.
        let mut h = History::new(0, 16, unlimited());
        let mut log = Vec::new();
        let mut seq = 0;
        for round in 0..50_i64 {
            let n = round % 4;
            let mut batch = Vec::new();
            for _ in 0..n {
                seq += 1 + (round % 3 == 0) as i64; // sometimes burn a number
                batch.push(ev(seq));
                log.push(seq);
            }
            let upto = seq + (round % 5 == 0) as i64;
            seq = upto;
            h.apply(batch, upto);
            for x in h.floor()..=h.head() {
                let want: Vec<i64> = log.iter().copied().filter(|s| *s > x).collect();
                assert_eq!(seqs(h.since(x).expect("in ring")), want, "since({x})");
            }
        }
    }

    #[test]
    fn bytes_are_accounted_in_the_shared_budget() {
        let budget = HistoryBudget::new(1 << 20);
        let cost = event_cost(&ev(1));
        let mut a = History::new(0, 3, budget.clone());
        let mut b = History::new(0, 8, budget.clone());
        a.apply((1..=5).map(ev), 5);
        b.apply((1..=2).map(ev), 2);
        let s = budget.stats();
        assert_eq!(a.bytes(), 3 * cost, "capacity keeps 3 events");
        assert_eq!((s.bytes, s.unwatched_bytes), (5 * cost, 5 * cost));
        assert_eq!((s.evicted_capacity, s.evicted_budget), (2, 0));

        a.set_watched(true);
        assert_eq!(
            budget.stats().unwatched_bytes,
            2 * cost,
            "a moved to watched"
        );
        a.set_watched(true);
        assert_eq!(budget.stats().bytes, 5 * cost, "no double move");

        b.reset(40);
        assert_eq!((b.head(), b.floor(), b.bytes()), (40, 40, 0));
        assert_eq!(budget.stats().bytes, 3 * cost);
        drop(a);
        assert_eq!(
            budget.stats().bytes,
            0,
            "a dropped history releases its bytes"
        );
    }

    #[test]
    fn trimming_raises_the_floor_and_keeps_the_window_complete() {
        let budget = HistoryBudget::new(1 << 20);
        let mut h = History::new(0, 100, budget.clone());
        h.apply((1..=10).map(ev), 12);
        // Costs differ by the JSON's length: sum the last four.
        let last4: usize = (7..=10).map(|s| event_cost(&ev(s))).sum();
        assert_eq!(h.trim_to(last4 + 10), 6);
        assert_eq!((h.floor(), h.head(), h.bytes()), (6, 12, last4));
        assert_eq!(seqs(h.since(6).expect("in ring")), vec![7, 8, 9, 10]);
        assert!(h.since(5).is_none(), "evicted: the database answers");
        assert_eq!(h.trim_to(usize::MAX), 0);
        assert_eq!(h.trim_to(0), 4);
        assert_eq!((h.floor(), h.bytes()), (10, 0));
        assert_eq!(
            seqs(h.since(10).expect("empty ring, complete")),
            Vec::<i64>::new()
        );
        let s = budget.stats();
        assert_eq!((s.bytes, s.evicted_budget), (0, 10));
        // Appending after a full trim goes on from the new floor.
        h.apply([ev(13)], 13);
        assert_eq!(seqs(h.since(10).expect("in ring")), vec![13]);
    }
}
