//! Reconciliation: the poller's full read. Compares every published position with the
//! database's: announces new histories (a recreated or restored database, deleted rows) as new
//! epochs, publishes events that were numbered but not published (by another gateway, or
//! before an error) and snapshot versions that differ.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{PollError, Poller, serialise};
use crate::{
    bus::{BusMessage, EventBatch, StreamReset},
    store::{EventQuery, PollState},
};

impl Poller {
    /// The full read; true if anything was published.
    pub(super) async fn reconcile(&mut self) -> Result<bool, PollError> {
        let state = self.store.poll_state().await?;
        self.detect_resets(&state).await?;
        let mut any = false;
        for (variant, head) in &state.seqs {
            let published = self.seed.heads.get(variant).copied().unwrap_or(0);
            crate::metrics::learn_variant(variant);
            let label = crate::metrics::variant_label(variant);
            metrics::gauge!("signalgate_event_lag", "variant" => label)
                .set((head - published).max(0) as f64);
            if *head > published {
                tracing::info!(%variant, published, head, "publishing events numbered but not published yet");
                self.catch_up(variant, published, *head).await?;
                any = true;
            }
        }
        // Pending rows come with the next round, after the events committed with them.
        let pending: HashSet<(&str, &str)> = state
            .pending
            .iter()
            .map(|(v, i)| (v.as_str(), i.as_str()))
            .collect();
        let changed: HashSet<&str> = state
            .versions
            .iter()
            .filter(|(v, i, ver)| {
                !pending.contains(&(v.as_str(), i.as_str())) && self.version(v, i) != Some(*ver)
            })
            .map(|(v, _, _)| v.as_str())
            .collect();
        for variant in changed {
            for snap in self.store.snapshots(Some(variant)).await? {
                if !pending.contains(&(snap.variant.as_str(), snap.instance_id.as_str())) {
                    any |= self.publish_snapshot(&snap).await?;
                }
            }
        }
        Ok(any)
    }

    /// Publishes `variant`'s events in `(from, to]` from the database, in batches.
    pub(super) async fn catch_up(
        &mut self,
        variant: &str,
        from: i64,
        to: i64,
    ) -> Result<(), PollError> {
        let mut cursor = from;
        while cursor < to {
            let rows = self
                .store
                .events(&EventQuery::after(variant, cursor, self.config.batch))
                .await?;
            let full = rows.len() >= self.config.batch as usize;
            let last = rows.last().map_or(cursor, |e| e.seq);
            // A short read saw every numbered event up to `to`: positions without a row were
            // pruned (or burnt by an earlier schema).
            let upto = if full { last } else { last.max(to) };
            self.bus
                .publish(BusMessage::Events(EventBatch {
                    variant: variant.to_owned(),
                    after_seq: cursor,
                    upto_seq: upto,
                    events: rows.iter().filter_map(serialise).collect(),
                }))
                .await?;
            self.seed.heads.insert(variant.to_owned(), upto);
            cursor = upto;
        }
        Ok(())
    }

    /// What changed beneath the published positions: variants whose history was replaced, and
    /// whether the whole database was (its identity changed). See [`Poller::detect_resets`].
    fn vanished(&self, state: &PollState) -> (BTreeSet<String>, bool) {
        let replaced = !self.seed.database.is_empty() && self.seed.database != state.database_id;
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
                old = %self.seed.database,
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
        self.seed.database = state.database_id.clone();
        Ok(())
    }
}
