//! Answering `subscribe`: the ack (snapshots, replayed events, position) and the room joins,
//! atomic with respect to live events of the variant (see the ordering note in [`super::hub`]).
//!
//! A replay comes from the variant's ring when it reaches back far enough, otherwise from the
//! database first and the ring after it. The database read happens outside the variant lock, so
//! the ring may move on meanwhile; the loop then reads again (at most [`ATTEMPTS`] times).
//! Resumes are counted by where they were answered from (ring alone, or database).

use std::{collections::HashSet, sync::Arc};

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::extract::{AckSender, SocketRef};

use super::{
    hub::{Hub, Subscriptions, lock},
    protocol::{ProtoError, SubscribeRequest, symbol_room, variant_room},
    variant::Subscription,
};
use crate::{bus::PublishedEvent, store::EventQuery};

/// Attempts before a subscribe gives up because the ring keeps moving past its database read.
const ATTEMPTS: usize = 4;
/// Most bytes of event JSON in one ack (beyond it the ack is `truncated`, the client pages the
/// rest over REST), besides `--resume-cap` events: a client library may refuse a large websocket
/// message (aiohttp: 4 MiB), and a mass resume of large events would otherwise hold
/// `resume_cap` × event size per socket. At least nothing, never a partial event.
pub const RESUME_MAX_BYTES: usize = 1024 * 1024;

/// How many of `events` (from the first) fit in an ack: at most `cap` events and `budget` bytes
/// of event JSON.
fn fitting(events: &[Arc<PublishedEvent>], cap: usize, budget: usize) -> usize {
    let mut bytes = 0;
    events
        .iter()
        .take(cap)
        .take_while(|p| {
            bytes += p.json.get().len() + 1;
            bytes <= budget
        })
        .count()
}

#[derive(Serialize)]
struct SubscribeAck<'a> {
    ok: bool,
    variant: &'a str,
    snapshots: Vec<&'a RawValue>,
    events: Vec<&'a RawValue>,
    seq: i64,
    truncated: bool,
    epoch: &'a str,
    /// The client's `since_seq` / `epoch` belong to another history of the variant (the
    /// database was recreated or restored): nothing was replayed; start from scratch.
    reset: bool,
}

impl Hub {
    /// Answers a subscribe: sends the ack and joins the rooms. On failure returns the error
    /// without acking (the caller acks it).
    pub async fn subscribe(
        &self,
        socket: &SocketRef,
        subs: &Subscriptions,
        req: SubscribeRequest,
        ack: AckSender,
    ) -> Result<(), (ProtoError, AckSender)> {
        if !self.is_loaded() {
            return Err((
                ProtoError::new(
                    "unavailable",
                    "the gateway is still connecting to its database; retry shortly",
                ),
                ack,
            ));
        }
        let variant = req.variant.as_str();
        let limit = self.limits().max_subscriptions;
        {
            let subs = subs.lock();
            if !subs.contains_key(variant) && subs.len() >= limit {
                let msg = format!(
                    "this socket already follows {} variants; the limit is {limit}",
                    subs.len()
                );
                return Err((ProtoError::new("too_many_subscriptions", msg), ack));
            }
        }
        let cap = self.limits().resume_cap as usize;
        let symbols: HashSet<&str> = req.vt_symbols.iter().map(|s| s.as_str()).collect();
        let wanted =
            |p: &PublishedEvent| symbols.is_empty() || symbols.contains(p.vt_symbol.as_str());
        let mut st_arc = self.variant(variant);
        let mut collected: Vec<Arc<PublishedEvent>> = Vec::new();
        // The client's position belongs to another history: replay nothing.
        let mut reset = false;
        let start_epoch = {
            let st = lock(&st_arc);
            if req.since_seq.is_some_and(|s| s > st.history.head())
                || req.epoch.as_ref().is_some_and(|e| *e != st.epoch)
            {
                reset = true;
            }
            st.epoch.clone()
        };
        // Position up to which `collected` holds every wanted event.
        let mut cursor = if reset { None } else { req.since_seq };
        let mut db_full = false;
        // Whether this replay read the database (counted per resume for `/metrics`).
        let mut read_db = false;

        for _ in 0..ATTEMPTS {
            if let Some(c) = cursor {
                let (head0, floor0) = {
                    let st = lock(&st_arc);
                    (st.history.head(), st.history.floor())
                };
                if c < floor0 && !db_full && collected.is_empty() {
                    // Events after `c` were deleted by retention: a replay would have a gap.
                    match self.store.pruned_upto(variant).await {
                        Ok(pruned) if c < pruned => {
                            self.forget_if_unused(variant, &lock(&st_arc));
                            let msg = format!(
                                "events up to seq {pruned} were pruned by retention; reload \
                                 first paint and subscribe without since_seq"
                            );
                            return Err((ProtoError::new("history_pruned", msg), ack));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot read the pruned position"),
                    }
                }
                if c < floor0 && !db_full {
                    let want = cap + 1 - collected.len().min(cap);
                    let mut q = EventQuery::after(variant, c, want as u32);
                    q.vt_symbols = req.vt_symbols.clone();
                    read_db = true;
                    let rows = match self.store.events(&q).await {
                        Ok(rows) => rows,
                        Err(e) => {
                            tracing::warn!(error = %e, "subscribe replay read failed");
                            self.forget_if_unused(variant, &lock(&st_arc));
                            let msg = "cannot read events from the database; retry shortly";
                            return Err((ProtoError::new("unavailable", msg), ack));
                        }
                    };
                    db_full = rows.len() >= want;
                    for e in &rows {
                        match PublishedEvent::new(e) {
                            Ok(p) => collected.push(p),
                            Err(err) => tracing::error!(error = %err, "cannot serialise event"),
                        }
                    }
                    // A short read saw every committed event up to at least head0.
                    let last = collected.last().map_or(c, |p| p.seq);
                    cursor = Some(if db_full {
                        last
                    } else {
                        last.max(head0).max(c)
                    });
                }
            }

            let mut st = lock(&st_arc);
            if !self.is_current(variant, &st_arc) || st.epoch != start_epoch {
                // The variant was forgotten or reset while we read: start over from scratch.
                drop(st);
                st_arc = self.variant(variant);
                reset |= req.since_seq.is_some();
                (cursor, db_full) = (None, false);
                collected.clear();
                continue;
            }
            let head = st.history.head();
            collected.retain(|p| p.seq <= head);
            // A full database read has more behind it; otherwise the ring adds the rest.
            let mut truncated = db_full;
            if !db_full
                && collected.len() <= cap
                && let Some(c) = cursor
            {
                let last = collected.last().map_or(c, |p| p.seq).max(c);
                let Some(tail) = st.history.since(last) else {
                    drop(st);
                    continue; // the ring moved past what we read; read more
                };
                collected.extend(tail.filter(|p| wanted(p)).cloned());
            }
            let keep = fitting(&collected, cap, RESUME_MAX_BYTES);
            if keep < collected.len() {
                collected.truncate(keep);
                truncated = true;
            }
            let snapshots = self.snapshots(variant, req.instance_id.as_ref().map(|i| i.as_str()));
            let payload = SubscribeAck {
                ok: true,
                variant,
                snapshots: snapshots.iter().map(|s| &*s.json).collect(),
                events: collected.iter().map(|p| &*p.json).collect(),
                seq: head,
                truncated,
                epoch: &st.epoch,
                reset,
            };
            if cursor.is_some() {
                self.history_budget().count_resume(read_db);
            }
            if let Err(err) = ack.send(&payload) {
                tracing::warn!(sid = %socket.id, error = %err, "cannot send subscribe ack");
                return Ok(());
            }
            let rooms: Vec<String> = if req.vt_symbols.is_empty() {
                vec![variant_room(variant)]
            } else {
                req.vt_symbols
                    .iter()
                    .map(|s| symbol_room(variant, s.as_str()))
                    .collect()
            };
            // Still under the variant lock: no live event can slip between ack and join.
            let mut subs = subs.lock();
            if let Some(old) = subs.remove(variant) {
                st.leave(&old.rooms);
                socket.leave(old.rooms);
            }
            st.join(&rooms, !req.vt_symbols.is_empty());
            socket.join(rooms.clone());
            // With deltas, the client now holds exactly the ack's snapshots.
            let held = req.deltas.then(|| {
                snapshots
                    .iter()
                    .map(|s| (s.instance_id.clone(), s.version))
                    .collect()
            });
            let sub = Subscription {
                rooms,
                batch: req.batch,
                held,
            };
            subs.insert(variant.to_owned(), sub);
            return Ok(());
        }
        self.forget_if_unused(variant, &lock(&st_arc));
        let msg = "events arrive faster than the replay can catch up; retry with since_seq";
        Err((ProtoError::new("busy", msg), ack))
    }

    /// Leaves a variant's rooms. An unknown variant creates no state.
    pub fn unsubscribe(&self, socket: &SocketRef, subs: &Subscriptions, variant: &str) {
        let Some(st_arc) = self.existing(variant) else {
            subs.lock().remove(variant);
            return;
        };
        let mut st = lock(&st_arc);
        if let Some(sub) = subs.lock().remove(variant) {
            st.leave(&sub.rooms);
            socket.leave(sub.rooms);
        }
        self.forget_if_unused(variant, &st);
        drop(st);
        self.enforce_history_budget();
    }
}
