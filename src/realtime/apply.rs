//! Applying bus messages to the hub: event batches (with gap refill from the database),
//! snapshot changes and stream resets, each pushed to the variant's rooms under its lock.
//! Sockets that cannot keep up are detached and cut off.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{
    fanout::Fanout,
    hub::{Hub, Subscriptions, lock},
    protocol::variant_room,
};
use crate::{
    bus::{EventBatch, PublishedEvent, PublishedSnapshot, StreamReset},
    store::EventQuery,
};

/// Rows per read when refilling a gap from the database.
const GAP_PAGE: u32 = 1000;

impl Hub {
    /// Starts a new epoch for a variant whose database history went backwards: drops its ring
    /// and cached snapshots and tells its subscribers (`stream_reset`) to start from scratch.
    pub fn reset(&self, reset: StreamReset, fanout: &Fanout) {
        // The epoch names the database it belongs to: a reset into another database (recreated
        // or restored) moves the whole live state there.
        self.set_database_id(super::hub::epoch_database(&reset.epoch));
        let st_arc = self.variant(&reset.variant);
        let mut st = lock(&st_arc);
        st.history.reset(reset.head);
        st.epoch = reset.epoch.clone();
        self.snapshots.remove(&reset.variant);
        self.overview.reset(&reset.variant, reset.head);
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
        let slow = fanout.emit_variant(&reset.variant, rooms, "stream_reset", &json);
        drop(st);
        self.cut_off(slow, fanout);
    }

    /// Cuts off slow sockets and drops their subscriptions.
    pub(super) fn cut_off(&self, slow: Vec<socketioxide::extract::SocketRef>, fanout: &Fanout) {
        for socket in &slow {
            if let Some(subs) = socket.extensions.get::<Subscriptions>() {
                self.detach(&subs);
            }
        }
        fanout.cut_off(slow);
    }

    /// Applies a snapshot change: caches it and pushes `snapshot_update` (or `snapshot_delta`) to the variant's rooms.
    pub fn apply_snapshot(&self, snap: Arc<PublishedSnapshot>, fanout: &Fanout) {
        let st = self.variant(&snap.variant);
        let st = lock(&st);
        let old = {
            let mut entry = self.snapshots.entry(snap.variant.clone()).or_default();
            if entry
                .get(&snap.instance_id)
                .is_some_and(|old| old.version == snap.version)
            {
                return; // already applied (duplicate delivery)
            }
            entry.insert(snap.instance_id.clone(), snap.clone())
        };
        self.overview.snapshot(&snap);
        let mut rooms: Vec<String> = st.symbol_rooms.keys().cloned().collect();
        rooms.push(variant_room(&snap.variant));
        let slow = fanout.emit_snapshot(rooms, &snap, old.as_deref());
        metrics::counter!("signalgate_snapshots_emitted_total", "variant" => crate::metrics::variant_label(&snap.variant)).increment(1);
        drop(st);
        self.cut_off(slow, fanout);
    }

    /// Applies a batch of events: fills any gap from the database, appends to the history and
    /// pushes `event_new` (or `event_batch`) to the rooms, in seq order, each event once. Returns without applying
    /// the batch if `cancel` fires while a gap is being refilled (shutdown).
    pub async fn apply_events(
        &self,
        batch: EventBatch,
        fanout: &Fanout,
        cancel: &CancellationToken,
    ) {
        let st_arc = self.variant(&batch.variant);
        let head = lock(&st_arc).history.head();
        if batch.upto_seq <= head {
            return; // nothing new (duplicate delivery)
        }
        let mut events = Vec::new();
        if batch.after_seq > head {
            // We missed (head, after_seq]: read it back before going on, so nothing is lost.
            tracing::warn!(variant = %batch.variant, head, after_seq = batch.after_seq, "gap in event stream; filling from database");
            let Some(filled) = self
                .fill_gap(&batch.variant, head, batch.after_seq, cancel)
                .await
            else {
                return;
            };
            events = filled;
        }
        events.extend(batch.events);
        let mut st = lock(&st_arc);
        let fresh = st.history.apply(events, batch.upto_seq);
        self.overview.events(
            &batch.variant,
            st.history.head(),
            fresh.last().map(|p| &**p),
        );
        let mut slow = Vec::new();
        let label = crate::metrics::variant_label(&batch.variant);
        metrics::counter!("signalgate_events_emitted_total", "variant" => label)
            .increment(fresh.len() as u64);
        fanout.emit_events(&batch.variant, &fresh, &mut slow);
        drop(st);
        self.enforce_history_budget();
        self.cut_off(slow, fanout);
    }

    /// Reads the events in `(from, to]` back from the database, page by page, retrying a
    /// failed read with back-off until it works or `cancel` fires (`None`: cancelled).
    ///
    /// The read stops at the first row beyond `to`: positions at the end of the gap may have
    /// no row (pruned, or burnt by ignored inserts before migration 0005), so the cursor cannot be relied
    /// on to reach `to`.
    async fn fill_gap(
        &self,
        variant: &str,
        from: i64,
        to: i64,
        cancel: &CancellationToken,
    ) -> Option<Vec<Arc<PublishedEvent>>> {
        // Retry with back-off: giving up would lose events for every subscriber.
        let mut delay = Duration::from_millis(100);
        let mut out = Vec::new();
        let mut cursor = from;
        while cursor < to {
            let query = EventQuery::after(variant, cursor, GAP_PAGE);
            let read = tokio::select! {
                _ = cancel.cancelled() => return None,
                r = self.store.events(&query) => r,
            };
            let rows = match read {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %err, "gap fill failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            // A short page is the end of the table; a row beyond `to` ends the gap.
            let last_page = rows.len() < GAP_PAGE as usize;
            for e in &rows {
                if e.seq > to {
                    return Some(out);
                }
                cursor = e.seq;
                match PublishedEvent::new(e) {
                    Ok(p) => out.push(p),
                    Err(err) => tracing::error!(error = %err, "cannot serialise event"),
                }
            }
            if last_page {
                break;
            }
        }
        Some(out)
    }
}
