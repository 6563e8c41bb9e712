//! Publication of one numbering round: its events, variant by variant in `seq` order (after
//! catching up what was numbered but not published), then its snapshots.

use std::{collections::HashMap, sync::Arc};

use super::{PollError, Poller};
use crate::{
    bus::{BusMessage, EventBatch, PublishedEvent, PublishedSnapshot},
    domain::{Event, Snapshot},
    store::Numbering,
};

impl Poller {
    /// Publishes one round's events, variant by variant, each batch continuing the published
    /// position (catching up first if events numbered earlier were not published).
    pub(super) async fn publish_numbered(&mut self, numbering: Numbering) -> Result<(), PollError> {
        let Numbering {
            events,
            before,
            after,
        } = numbering;
        let now = chrono::Utc::now();
        let mut by_variant: HashMap<String, Vec<Event>> = HashMap::new();
        for e in events {
            by_variant.entry(e.variant.clone()).or_default().push(e);
        }
        for (variant, upto) in after {
            let from = before.get(&variant).copied().unwrap_or(0);
            let published = self.seed.heads.get(&variant).copied().unwrap_or(0);
            if published > from {
                // The database's head is below what was published: a reset the next
                // reconciliation announces (it compares every head).
                self.sync.dirty = true;
                continue;
            }
            if published < from {
                self.catch_up(&variant, published, from).await?;
            }
            let rows = by_variant.remove(&variant).unwrap_or_default();
            for e in &rows {
                // From the writer's created_at to publication (emission follows at once).
                let age = (now - e.created_at).to_std().unwrap_or_default();
                metrics::histogram!("signalgate_commit_to_emit_seconds").record(age.as_secs_f64());
            }
            let batch = EventBatch {
                variant: variant.clone(),
                after_seq: from,
                upto_seq: upto,
                events: rows.iter().filter_map(serialise).collect(),
            };
            self.bus.publish(BusMessage::Events(batch)).await?;
            crate::metrics::learn_variant(&variant);
            let label = crate::metrics::variant_label(&variant);
            metrics::gauge!("signalgate_event_lag", "variant" => label).set(0.0);
            self.seed.heads.insert(variant, upto);
        }
        Ok(())
    }

    /// Publishes `snap` unless this version was published; true if it was published now.
    pub(super) async fn publish_snapshot(&mut self, snap: &Snapshot) -> Result<bool, PollError> {
        if self.version(&snap.variant, &snap.instance_id) == Some(snap.version) {
            return Ok(false);
        }
        let published = match PublishedSnapshot::new(snap) {
            Ok(p) => p,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialise snapshot");
                return Ok(false);
            }
        };
        self.bus.publish(BusMessage::Snapshot(published)).await?;
        self.seed
            .versions
            .entry(snap.variant.clone())
            .or_default()
            .insert(snap.instance_id.clone(), snap.version);
        Ok(true)
    }
}

/// The event as published, or `None` (logged) if it cannot be serialised.
pub(super) fn serialise(e: &Event) -> Option<Arc<PublishedEvent>> {
    match PublishedEvent::new(e) {
        Ok(p) => Some(p),
        Err(err) => {
            tracing::error!(error = %err, seq = e.seq, "cannot serialise event");
            None
        }
    }
}
