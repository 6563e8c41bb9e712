//! The recent history of one variant: how far it has been published (`head`), and a bounded
//! ring of the latest events so most resumes need no database query.
//!
//! Pure data: no I/O, no Socket.IO, no locking (the hub holds it under the variant's lock).
//!
//! Invariant: the ring holds **every** event with `floor < seq <= head`, ascending.

use std::{collections::VecDeque, sync::Arc};

use crate::bus::PublishedEvent;

/// Head, floor and ring of one variant.
#[derive(Debug)]
pub struct History {
    head: i64,
    floor: i64,
    ring: VecDeque<Arc<PublishedEvent>>,
    capacity: usize,
}

impl History {
    /// An empty history positioned at `head` (nothing before it is kept).
    pub fn new(head: i64, capacity: usize) -> Self {
        Self {
            head,
            floor: head,
            ring: VecDeque::new(),
            capacity: capacity.max(1),
        }
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
    /// to `upto` (positions without a row were burnt by ignored inserts). Returns the events
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
            self.ring.push_back(event.clone());
            fresh.push(event);
        }
        while self.ring.len() > self.capacity {
            if let Some(old) = self.ring.pop_front() {
                self.floor = old.seq;
            }
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

    fn seqs<'a>(it: impl Iterator<Item = &'a Arc<PublishedEvent>>) -> Vec<i64> {
        it.map(|e| e.seq).collect()
    }

    #[test]
    fn applies_in_order_and_drops_duplicates() {
        let mut h = History::new(10, 8);
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
        let mut h = History::new(0, 8);
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
        let mut h = History::new(0, 3);
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
        let mut h = History::new(0, 16);
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
}
