//! The overview of all variants (`subscribe_overview`, `overview_update`, `GET /api/overview`).
//!
//! One summary per variant ([`OverviewSummary`]), kept as serialised text and recomputed once
//! per change, under the variant's lock, from what the hub applies anyway: a snapshot change
//! re-reads that one snapshot's JSON, an event batch takes its last event and the new head, a
//! reset clears the variant. No database statement is made for it; in a group every instance
//! builds the same summaries from the bus messages it applies.
//!
//! Changed variants are collected and pushed by one task ([`run`]) every
//! `--overview-interval-ms` to the sockets in the overview room (each filtered by its grants),
//! so a socket gets at most one `overview_update` per interval, whatever the change rate. A
//! subscribe acks every summary and joins the room under the overview lock, so a change is
//! either in the ack or in a later push.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::value::RawValue;
use socketioxide::extract::{AckSender, SocketRef};
use tokio_util::sync::CancellationToken;

use super::{fanout::Fanout, hub::Hub, protocol::ProtoError, variant::lock};
use crate::{
    auth::Grants,
    bus::{PublishedEvent, PublishedSnapshot},
    domain::{InstanceSummary, LastEvent, OverviewSummary},
};

/// The room of the sockets that follow the overview (no variant room can have this name: those
/// start with `v:`).
pub const OVERVIEW_ROOM: &str = "overview";

/// One variant's inputs and its serialised summary.
#[derive(Debug, Default)]
struct Entry {
    instances: BTreeMap<String, InstanceSummary>,
    last_seq: i64,
    last_event: Option<LastEvent>,
    json: Arc<str>,
}

/// A variant's summary text (or its removal) as pushed.
pub type Change = (String, Arc<str>);

#[derive(Debug, Default)]
struct State {
    variants: BTreeMap<String, Entry>,
    /// Variants changed since the last push.
    dirty: BTreeSet<String>,
}

/// Every variant's summary and what changed since the last push.
#[derive(Debug, Default)]
pub struct Overview {
    state: Mutex<State>,
}

/// `{"variant": "x", "removed": true}`.
fn removed(variant: &str) -> Arc<str> {
    serde_json::json!({"removed": true, "variant": variant})
        .to_string()
        .into()
}

/// `{<prefix>"variants":[a,b,..]}` from summary texts (valid JSON by construction).
pub fn list_json<'a>(prefix: &str, items: impl Iterator<Item = &'a str>) -> Option<Box<RawValue>> {
    let mut out = String::with_capacity(256);
    out.push('{');
    out.push_str(prefix);
    out.push_str("\"variants\":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push_str("]}");
    RawValue::from_string(out).ok()
}

impl State {
    /// Applies `f` to the variant's entry (created if new), re-serialises its summary and marks
    /// it changed; a variant left without snapshots and events is removed.
    fn update(&mut self, variant: &str, f: impl FnOnce(&mut Entry)) {
        let entry = self.variants.entry(variant.to_owned()).or_default();
        f(entry);
        self.dirty.insert(variant.to_owned());
        if entry.instances.is_empty() && entry.last_seq == 0 {
            self.variants.remove(variant);
            return;
        }
        let summary = OverviewSummary::build(
            variant,
            entry.instances.values(),
            entry.last_seq,
            entry.last_event.clone(),
        );
        match serde_json::to_string(&summary) {
            Ok(text) => entry.json = text.into(),
            Err(err) => tracing::error!(error = %err, "cannot serialise an overview summary"),
        }
    }
}

impl Overview {
    /// A snapshot row changed.
    pub(super) fn snapshot(&self, snap: &PublishedSnapshot) {
        let Some(inst) = InstanceSummary::from_snapshot_json(snap.json.get()) else {
            return;
        };
        lock(&self.state).update(&snap.variant, |e| {
            e.instances.insert(snap.instance_id.clone(), inst);
        });
    }

    /// Events were applied: the variant's position is `head`, `last` its newest event.
    pub(super) fn events(&self, variant: &str, head: i64, last: Option<&PublishedEvent>) {
        let last = last.and_then(|p| LastEvent::from_event_json(p.json.get()));
        lock(&self.state).update(variant, |e| {
            e.last_seq = head;
            if last.is_some() {
                e.last_event = last;
            }
        });
    }

    /// The variant was reset: no snapshots, position `head`.
    pub(super) fn reset(&self, variant: &str, head: i64) {
        lock(&self.state).update(variant, |e| {
            e.instances.clear();
            e.last_seq = head;
            e.last_event = None;
        });
    }

    /// Rebuilds every summary from the hub's positions and snapshots (after a load).
    fn rebuild(&self, heads: Vec<(String, i64)>, snapshots: Vec<Arc<PublishedSnapshot>>) {
        let mut st = lock(&self.state);
        let old: Vec<String> = st.variants.keys().cloned().collect();
        st.variants.clear();
        st.dirty.extend(old);
        for (variant, head) in heads {
            st.update(&variant, |e| e.last_seq = head);
        }
        for snap in snapshots {
            if let Some(inst) = InstanceSummary::from_snapshot_json(snap.json.get()) {
                st.update(&snap.variant, |e| {
                    e.instances.insert(snap.instance_id.clone(), inst);
                });
            }
        }
    }

    /// The summaries of the variants `allows` accepts, by variant.
    pub fn summaries(&self, allows: impl Fn(&str) -> bool) -> Vec<Arc<str>> {
        lock(&self.state)
            .variants
            .iter()
            .filter(|(v, _)| allows(v))
            .map(|(_, e)| e.json.clone())
            .collect()
    }

    /// The summaries (or removals) of the variants changed since the last call, by variant.
    pub fn take_changes(&self) -> Vec<Change> {
        let mut st = lock(&self.state);
        let dirty = std::mem::take(&mut st.dirty);
        dirty
            .into_iter()
            .map(|v| {
                let json = st
                    .variants
                    .get(&v)
                    .map_or_else(|| removed(&v), |e| e.json.clone());
                (v, json)
            })
            .collect()
    }
}

impl Hub {
    /// The overview of all variants.
    pub fn overview(&self) -> &Overview {
        &self.overview
    }

    /// Rebuilds the overview from the loaded state.
    pub(super) fn rebuild_overview(&self) {
        let heads = self
            .entries()
            .into_iter()
            .map(|(v, st)| (v, lock(&st).history.head()))
            .collect();
        let snapshots = self
            .snapshots
            .iter()
            .flat_map(|e| e.value().values().cloned().collect::<Vec<_>>())
            .collect();
        self.overview.rebuild(heads, snapshots);
    }

    /// Answers `subscribe_overview`: acks every summary the socket may read and joins the
    /// overview room, both under the overview lock (no change is missed in between).
    pub fn subscribe_overview(&self, socket: &SocketRef, ack: AckSender) {
        if !self.is_loaded() {
            let err = ProtoError::new(
                "unavailable",
                "the gateway is still connecting to its database; retry shortly",
            );
            let _ = ack.send(&err.to_ack());
            return;
        }
        let grants = socket.extensions.get::<Arc<Grants>>();
        let st = lock(&self.overview.state);
        let items = st
            .variants
            .iter()
            .filter(|(v, _)| grants.as_ref().is_none_or(|g| g.allows(v)))
            .map(|(_, e)| &*e.json);
        if let Some(body) = list_json("\"ok\":true,", items) {
            let _ = ack.send(&body);
            socket.join(OVERVIEW_ROOM);
        }
        drop(st);
    }
}

/// Pushes the changed summaries every `every` until `cancel` fires; cuts off sockets that
/// cannot take them.
pub async fn run(hub: Arc<Hub>, fanout: Arc<Fanout>, every: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let changes = hub.overview().take_changes();
        if changes.is_empty() {
            continue;
        }
        let slow = fanout.emit_overview(&changes);
        hub.cut_off(slow, &fanout);
    }
}
