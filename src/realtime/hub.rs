//! The in-memory side of the realtime core: the latest snapshot of every instance (served to
//! `/api/snapshot` and to subscribe acks), a bounded ring of recent events per variant (so most
//! resumes need no database query), and the fan-out into Socket.IO rooms.
//!
//! # Ordering
//! Each variant has one lock. Publishing a batch and answering a subscribe both take it, and
//! everything done under it is synchronous (queueing packets on sockets, joining rooms). So for
//! every socket the subscribe ack (with its `seq`) is queued before any live event of that
//! variant, and a live event is either inside the ack (`seq <= ack.seq`) or pushed after it,
//! never both and never neither. Database reads happen outside the lock.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use dashmap::DashMap;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::{
    SendError, SocketError, SocketIo,
    extract::{AckSender, SocketRef},
};

use super::protocol::{ProtoError, SubscribeRequest, symbol_room, variant_room};
use crate::{
    bus::EventBatch,
    domain::{Event, Snapshot},
    store::{EventQuery, Store, StoreError},
};

/// An event serialised once, ready to be queued on any number of sockets.
#[derive(Debug)]
pub struct Published {
    /// The event's seq.
    pub seq: i64,
    /// Its symbol (for per-symbol rooms and filters).
    pub vt_symbol: String,
    /// The Event JSON.
    pub json: Box<RawValue>,
}

impl Published {
    fn new(event: &Event) -> Result<Arc<Self>, serde_json::Error> {
        Ok(Arc::new(Self {
            seq: event.seq,
            vt_symbol: event.vt_symbol.clone(),
            json: serde_json::value::to_raw_value(event)?,
        }))
    }
}

/// Per-variant live state.
#[derive(Debug, Default)]
struct VariantState {
    /// Every event with `seq <= head` has been pushed to the rooms.
    head: i64,
    /// The ring holds every event in `(floor, head]`.
    floor: i64,
    /// Recent events, ascending.
    ring: VecDeque<Arc<Published>>,
    /// Symbol rooms that have been joined (snapshot updates go to them too).
    symbol_rooms: HashSet<String>,
}

/// Tunables of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Events kept per variant.
    pub ring_capacity: usize,
    /// Most events in one subscribe ack.
    pub resume_cap: u32,
    /// Most variants per socket.
    pub max_subscriptions: usize,
    /// Most symbols per subscribe.
    pub max_symbols: usize,
}

/// What one socket is subscribed to: variant → rooms joined.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions(pub Arc<Mutex<BTreeMap<String, Vec<String>>>>);

/// The realtime hub.
pub struct Hub {
    store: Arc<dyn Store>,
    io: SocketIo,
    limits: HubLimits,
    snapshots: DashMap<String, BTreeMap<String, Arc<Snapshot>>>,
    variants: DashMap<String, Arc<Mutex<VariantState>>>,
    loaded: AtomicBool,
    slow_disconnects: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the state half-updated in a way that matters
    // more than stopping the fan-out, so keep going with the inner value.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Serialize)]
struct SubscribeAck<'a> {
    ok: bool,
    variant: &'a str,
    snapshots: Vec<Arc<Snapshot>>,
    events: Vec<&'a RawValue>,
    seq: i64,
    truncated: bool,
}

/// How often a cut-off client's disconnect packet is retried, and how many times (one minute).
const DISCONNECT_RETRY: Duration = Duration::from_millis(200);
const DISCONNECT_ATTEMPTS: u32 = 300;

/// Attempts before a subscribe gives up because the ring keeps moving past its database read.
const SUBSCRIBE_ATTEMPTS: usize = 4;

impl Hub {
    /// A hub that fans out through `io`.
    pub fn new(store: Arc<dyn Store>, io: SocketIo, limits: HubLimits) -> Self {
        Self {
            store,
            io,
            limits,
            snapshots: DashMap::new(),
            variants: DashMap::new(),
            loaded: AtomicBool::new(false),
            slow_disconnects: AtomicU64::new(0),
        }
    }

    /// The hub's limits.
    pub fn limits(&self) -> HubLimits {
        self.limits
    }

    /// Loads every snapshot and the current position of every variant from the database. Live
    /// events start after these positions.
    pub async fn load(&self) -> Result<(), StoreError> {
        let state = self.store.poll_state().await?;
        let snapshots = self.store.snapshots(None).await?;
        for (variant, seq) in state.seqs {
            let st = self.variant(&variant);
            let mut st = lock(&st);
            if st.head == 0 {
                st.head = seq;
                st.floor = seq;
            }
        }
        for s in snapshots {
            self.snapshots
                .entry(s.variant.clone())
                .or_default()
                .insert(s.instance_id.clone(), Arc::new(s));
        }
        self.loaded.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// How many clients were cut off for falling behind (since start).
    pub fn slow_disconnects(&self) -> u64 {
        self.slow_disconnects.load(Ordering::Relaxed)
    }

    /// Whether [`Hub::load`] has succeeded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Current position of every known variant (seeds the poller's cursors).
    pub fn heads(&self) -> Vec<(String, i64)> {
        self.variants
            .iter()
            .map(|e| (e.key().clone(), lock(e.value()).head))
            .collect()
    }

    /// `(variant, instance, version)` of every cached snapshot (seeds the poller).
    pub fn versions(&self) -> Vec<(String, String, i64)> {
        self.snapshots
            .iter()
            .flat_map(|e| {
                e.value()
                    .values()
                    .map(|s| (s.variant.clone(), s.instance_id.clone(), s.version))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Cached snapshots of a variant, optionally one instance.
    pub fn snapshots(&self, variant: &str, instance: Option<&str>) -> Vec<Arc<Snapshot>> {
        self.snapshots
            .get(variant)
            .map(|m| {
                m.values()
                    .filter(|s| instance.is_none_or(|i| s.instance_id == i))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn variant(&self, variant: &str) -> Arc<Mutex<VariantState>> {
        if let Some(s) = self.variants.get(variant) {
            return s.clone();
        }
        self.variants.entry(variant.to_owned()).or_default().clone()
    }

    /// Applies a snapshot change: caches it and pushes `snapshot_update` to the variant's rooms.
    pub fn apply_snapshot(&self, snap: Arc<Snapshot>) {
        let st = self.variant(&snap.variant);
        let st = lock(&st);
        {
            let mut entry = self.snapshots.entry(snap.variant.clone()).or_default();
            if let Some(old) = entry.get(&snap.instance_id)
                && old.version == snap.version
                && old.updated_at == snap.updated_at
            {
                return; // already applied (duplicate delivery)
            }
            entry.insert(snap.instance_id.clone(), snap.clone());
        }
        let json = match serde_json::value::to_raw_value(&*snap) {
            Ok(j) => j,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialise snapshot");
                return;
            }
        };
        let mut rooms: Vec<String> = st.symbol_rooms.iter().cloned().collect();
        rooms.push(variant_room(&snap.variant));
        let slow = self.emit_to(rooms, "snapshot_update", &json);
        drop(st);
        self.cut_off(slow);
    }

    /// Applies a batch of events: fills any gap from the database, appends to the ring and
    /// pushes `event_new` to the rooms, in seq order, each event once.
    pub async fn apply_events(&self, batch: EventBatch) {
        let st_arc = self.variant(&batch.variant);
        let head = lock(&st_arc).head;
        if batch.upto_seq <= head {
            return; // nothing new (duplicate delivery)
        }
        let mut events = Vec::new();
        if batch.after_seq > head {
            // We missed (head, after_seq]: read it back before going on, so nothing is lost.
            tracing::warn!(variant = %batch.variant, head, after_seq = batch.after_seq, "gap in event stream; filling from database");
            events = self.fill_gap(&batch.variant, head, batch.after_seq).await;
        }
        events.extend(batch.events);
        let mut prepared = Vec::with_capacity(events.len());
        for e in &events {
            match Published::new(e) {
                Ok(p) => prepared.push(p),
                Err(err) => tracing::error!(error = %err, seq = e.seq, "cannot serialise event"),
            }
        }
        let mut st = lock(&st_arc);
        let mut slow = Vec::new();
        for p in prepared {
            if p.seq <= st.head {
                continue;
            }
            let rooms = vec![
                variant_room(&batch.variant),
                symbol_room(&batch.variant, &p.vt_symbol),
            ];
            slow.extend(self.emit_to(rooms, "event_new", &p.json));
            st.head = p.seq;
            st.ring.push_back(p);
            while st.ring.len() > self.limits.ring_capacity {
                if let Some(old) = st.ring.pop_front() {
                    st.floor = old.seq;
                }
            }
        }
        if batch.upto_seq > st.head {
            // Sequence numbers burnt by ignored inserts: nothing exists up to upto_seq.
            if st.ring.is_empty() && st.floor == st.head {
                st.floor = batch.upto_seq;
            }
            st.head = batch.upto_seq;
        }
        drop(st);
        self.cut_off(slow);
    }

    async fn fill_gap(&self, variant: &str, from: i64, to: i64) -> Vec<Event> {
        // Retry forever with back-off: giving up would lose events for every subscriber.
        let mut delay = Duration::from_millis(100);
        let mut out: Vec<Event> = Vec::new();
        let mut cursor = from;
        while cursor < to {
            match self
                .store
                .events(&EventQuery::after(variant, cursor, 1000))
                .await
            {
                Ok(rows) => {
                    let done = rows.len() < 1000;
                    for e in rows.into_iter().filter(|e| e.seq <= to) {
                        cursor = e.seq;
                        out.push(e);
                    }
                    if done {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "gap fill failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        out
    }

    /// Queues `json` as `event` on every socket in `rooms`; returns the sockets whose buffer
    /// is full (they missed this message and must be cut off).
    fn emit_to(&self, rooms: Vec<String>, event: &str, json: &RawValue) -> Vec<SocketRef> {
        let mut slow = Vec::new();
        for socket in self.io.to(rooms).sockets() {
            if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
                socket.emit(event, json)
            {
                slow.push(socket);
            }
        }
        slow
    }

    /// Disconnects clients that fell too far behind. They leave every room at once (so they
    /// miss nothing silently: they get nothing more), and the disconnect packet is retried
    /// until their buffer has room or the heartbeat declares them dead.
    fn cut_off(&self, slow: Vec<SocketRef>) {
        for socket in slow {
            self.slow_disconnects.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(sid = %socket.id, reason = "slow_consumer", "send buffer full; disconnecting client (it can resume with since_seq)");
            socket.leave_all();
            if let Some(subs) = socket.extensions.get::<Subscriptions>() {
                lock(&subs.0).clear();
            }
            tokio::spawn(async move {
                // Poll for buffer room: a full socket.io channel rejects the disconnect packet.
                // A peer that never reads again is closed by the Engine.IO heartbeat instead
                // (its ping cannot be queued), so stop trying after a while.
                let mut tick = tokio::time::interval(DISCONNECT_RETRY);
                for _ in 0..DISCONNECT_ATTEMPTS {
                    if !socket.connected() || socket.clone().disconnect().is_ok() {
                        break;
                    }
                    tick.tick().await;
                }
            });
        }
    }

    /// Answers a subscribe: sends the ack (snapshots, replayed events, position) and joins the
    /// rooms, atomically with respect to live events of the variant. Failures are acked as
    /// `{ok:false, error}`.
    pub async fn subscribe(
        &self,
        socket: &SocketRef,
        subs: &Subscriptions,
        req: SubscribeRequest,
        ack: AckSender,
    ) -> Result<(), ProtoError> {
        let mut ack = Some(ack);
        let result = self.subscribe_inner(socket, subs, req, &mut ack).await;
        if let (Err(err), Some(ack)) = (&result, ack) {
            let _ = ack.send(&err.to_ack());
        }
        result
    }

    async fn subscribe_inner(
        &self,
        socket: &SocketRef,
        subs: &Subscriptions,
        req: SubscribeRequest,
        ack: &mut Option<AckSender>,
    ) -> Result<(), ProtoError> {
        if !self.is_loaded() {
            return Err(ProtoError::new(
                "unavailable",
                "the gateway is still connecting to its database; retry shortly",
            ));
        }
        let variant = req.variant.as_str();
        {
            let subs = lock(&subs.0);
            if !subs.contains_key(variant) && subs.len() >= self.limits.max_subscriptions {
                return Err(ProtoError::new(
                    "too_many_subscriptions",
                    format!(
                        "this socket already follows {} variants; the limit is {}",
                        subs.len(),
                        self.limits.max_subscriptions
                    ),
                ));
            }
        }
        let cap = self.limits.resume_cap as usize;
        let symbols: HashSet<&str> = req.vt_symbols.iter().map(|s| s.as_str()).collect();
        let wanted = |p: &Published| symbols.is_empty() || symbols.contains(p.vt_symbol.as_str());
        let st_arc = self.variant(variant);
        let mut collected: Vec<Arc<Published>> = Vec::new();
        // Position up to which `collected` holds every wanted event.
        let mut cursor = req.since_seq;
        let mut db_full = false;

        for _ in 0..SUBSCRIBE_ATTEMPTS {
            if let Some(c) = cursor {
                let (head0, floor0) = {
                    let st = lock(&st_arc);
                    (st.head, st.floor)
                };
                if c < floor0 && !db_full {
                    let want = cap + 1 - collected.len().min(cap);
                    let mut q = EventQuery::after(variant, c, want as u32);
                    q.vt_symbols = req.vt_symbols.clone();
                    let rows = self.store.events(&q).await.map_err(|e| {
                        tracing::warn!(error = %e, "subscribe replay read failed");
                        ProtoError::new(
                            "unavailable",
                            "cannot read events from the database; retry shortly",
                        )
                    })?;
                    db_full = rows.len() >= want;
                    for e in &rows {
                        match Published::new(e) {
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
            collected.retain(|p| p.seq <= st.head);
            let mut truncated = false;
            if db_full || collected.len() > cap {
                truncated = collected.len() > cap || db_full;
                collected.truncate(cap);
            } else if let Some(c) = cursor {
                if c < st.floor {
                    drop(st);
                    continue; // the ring moved past what we read; read more
                }
                let last = collected.last().map_or(c, |p| p.seq).max(c);
                collected.extend(
                    st.ring
                        .iter()
                        .filter(|p| p.seq > last && wanted(p))
                        .cloned(),
                );
                if collected.len() > cap {
                    collected.truncate(cap);
                    truncated = true;
                }
            }
            let payload = SubscribeAck {
                ok: true,
                variant,
                snapshots: self.snapshots(variant, req.instance_id.as_ref().map(|i| i.as_str())),
                events: collected.iter().map(|p| &*p.json).collect(),
                seq: st.head,
                truncated,
            };
            let Some(sender) = ack.take() else {
                return Ok(());
            };
            if let Err(err) = sender.send(&payload) {
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
            let mut subs = lock(&subs.0);
            if let Some(old) = subs.remove(variant) {
                socket.leave(old);
            }
            for room in &rooms {
                if !req.vt_symbols.is_empty() {
                    st.symbol_rooms.insert(room.clone());
                }
            }
            socket.join(rooms.clone());
            subs.insert(variant.to_owned(), rooms);
            return Ok(());
        }
        Err(ProtoError::new(
            "busy",
            "events arrive faster than the replay can catch up; retry with since_seq",
        ))
    }

    /// Leaves a variant's rooms.
    pub fn unsubscribe(&self, socket: &SocketRef, subs: &Subscriptions, variant: &str) {
        let st_arc = self.variant(variant);
        let _st = lock(&st_arc);
        if let Some(rooms) = lock(&subs.0).remove(variant) {
            socket.leave(rooms);
        }
    }
}
