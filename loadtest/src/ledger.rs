//! What the writers committed, shared with the clients.
//!
//! Every event carries its variant-local number `n` in its payload. Per variant the ledger hands
//! out `n`, records the commit-time marker of `n` (taken right before `COMMIT` is sent, so it is
//! set before any poller can see the row) and whether `n` was committed. Clients look the marker
//! up on receipt (latency = receipt − commit), and at the end a client's received set is compared
//! with the committed set: what is missing is lost.

use std::sync::atomic::{AtomicU64, Ordering};

/// One variant's numbers.
pub struct VariantLedger {
    /// The variant's name.
    pub name: String,
    next: AtomicU64,
    marks: Box<[AtomicU64]>,
    committed: Box<[AtomicU64]>,
}

/// All variants of a run.
pub struct Ledger {
    /// Per variant, in the order clients and writers index them.
    pub variants: Vec<VariantLedger>,
}

fn atomics(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Ledger {
    /// A ledger with room for `capacity` events per variant.
    pub fn new(names: &[String], capacity: usize) -> Self {
        let variants = names
            .iter()
            .map(|name| VariantLedger {
                name: name.clone(),
                next: AtomicU64::new(0),
                marks: atomics(capacity),
                committed: atomics(capacity.div_ceil(64)),
            })
            .collect();
        Self { variants }
    }

    /// Room per variant.
    pub fn capacity(&self) -> u64 {
        self.variants.first().map_or(0, |v| v.marks.len() as u64)
    }

    /// The next number of variant `v`, or `None` when its room is used up.
    pub fn take(&self, v: usize) -> Option<u64> {
        let l = &self.variants[v];
        let n = l.next.fetch_add(1, Ordering::Relaxed);
        (n < l.marks.len() as u64).then_some(n)
    }

    /// Records the commit-time marker of `n` (call right before sending `COMMIT`).
    pub fn mark(&self, v: usize, n: u64, t_us: u64) {
        self.variants[v].marks[n as usize].store(t_us, Ordering::Release);
    }

    /// Records that `n` is committed.
    pub fn commit(&self, v: usize, n: u64) {
        self.variants[v].committed[(n / 64) as usize].fetch_or(1 << (n % 64), Ordering::Release);
    }

    /// The commit marker of `n`, if the writer set one.
    pub fn marker(&self, v: usize, n: u64) -> Option<u64> {
        let m = self.variants[v]
            .marks
            .get(n as usize)?
            .load(Ordering::Acquire);
        (m != 0).then_some(m)
    }

    /// Number of committed events of variant `v`.
    pub fn committed_count(&self, v: usize) -> u64 {
        self.variants[v]
            .committed
            .iter()
            .map(|w| u64::from(w.load(Ordering::Acquire).count_ones()))
            .sum()
    }

    /// Committed events of `v` missing from `received` (a bitset over `n`).
    pub fn missing(&self, v: usize, received: &[u64]) -> u64 {
        self.variants[v]
            .committed
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let got = received.get(i).copied().unwrap_or(0);
                u64::from((w.load(Ordering::Acquire) & !got).count_ones())
            })
            .sum()
    }

    /// Up to `max` committed numbers of `v` missing from `received`.
    pub fn missing_list(&self, v: usize, received: &[u64], max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for (i, w) in self.variants[v].committed.iter().enumerate() {
            let mut gone = w.load(Ordering::Acquire) & !received.get(i).copied().unwrap_or(0);
            while gone != 0 && out.len() < max {
                out.push(i as u64 * 64 + u64::from(gone.trailing_zeros()));
                gone &= gone - 1;
            }
        }
        out
    }

    /// All committed events of all variants.
    pub fn committed_total(&self) -> u64 {
        (0..self.variants.len())
            .map(|v| self.committed_count(v))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_counts_committed_but_not_received() {
        let l = Ledger::new(&["a".into()], 130);
        for _ in 0..3 {
            let n = l.take(0).expect("room");
            l.mark(0, n, 10 + n);
            if n != 1 {
                l.commit(0, n);
            }
        }
        assert_eq!(l.committed_count(0), 2);
        assert_eq!(l.marker(0, 2), Some(12));
        assert_eq!(l.missing(0, &[0b001]), 1); // n = 2 committed, not received
        assert_eq!(l.missing(0, &[0b101]), 0);
        assert_eq!(l.missing_list(0, &[0b001], 10), vec![2]);
    }
}
