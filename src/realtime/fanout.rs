//! Fan-out into Socket.IO rooms, and the slow-client cut-off.
//!
//! Messages are queued socket by socket (the JSON text is serialised once and only copied into
//! each frame), so a full send buffer is attributed to the right client: that client alone is
//! cut off. socketioxide's room broadcast reports full buffers without saying which socket.
//! A fan-out step resolves its receivers, their grants and subscriptions once, not per event.
//!
//! Subscriptions with `batch` get one `event_batch` per socket per fan-out step
//! ([`Fanout::emit_events`]); with `deltas`, a `snapshot_delta` when they hold the previous
//! version ([`Fanout::emit_snapshot`]). socketioxide 0.18 encodes every `Socket::emit` anew;
//! only its room broadcast encodes once, and that one cannot say which socket was full (what
//! encoding once would save, measured by `loadtest/parser-bench`: about 80 ns of 144 per
//! `event_new` delivery; BENCHMARKS.md, issue 20).
//!
//! Variant messages ([`Fanout::emit_variant`]) are checked once more socket by socket (defence
//! in depth behind the room names): a socket gets a variant's message only when it follows that
//! variant and its token, if any, grants it.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::{SendError, SocketError, SocketIo, extract::SocketRef, socket::Sid};

use super::{
    delta::snapshot_delta,
    hub::Subscriptions,
    protocol::{symbol_room, variant_room},
    variant::Subscription,
};
use crate::{
    auth::Grants,
    bus::{PublishedEvent, PublishedSnapshot},
    lifecycle::Supervisor,
};

/// How often a cut-off client's disconnect packet is retried, and how many times (one minute).
const DISCONNECT_RETRY: Duration = Duration::from_millis(200);
const DISCONNECT_ATTEMPTS: u32 = 300;
/// Most events in one `event_batch` packet.
pub const BATCH_MAX_EVENTS: usize = 500;
/// Most bytes of event JSON in one `event_batch` packet (unless one event alone is larger).
pub const BATCH_MAX_BYTES: usize = 256 * 1024;

/// Queues messages on the sockets of rooms and cuts off clients that fall behind.
#[derive(Debug)]
pub struct Fanout {
    io: SocketIo,
    tasks: Supervisor,
    slow_disconnects: AtomicU64,
}

/// Whether `socket` follows `variant` and its token (if authentication is on) grants it; if so,
/// runs `f` on its subscription. The caller holds the variant's lock, under which subscriptions
/// change, so this is exact.
fn with_subscription<R>(
    socket: &SocketRef,
    variant: &str,
    f: impl FnOnce(&mut Subscription) -> R,
) -> Option<R> {
    let subs = socket.extensions.get::<Subscriptions>()?;
    if !subs.allows(variant) {
        return None;
    }
    let mut map = subs.lock();
    map.get_mut(variant).map(f)
}

/// What happened to one socket's packet.
enum Sent {
    /// Queued.
    Delivered,
    /// Nothing queued, on purpose (the socket is not to have it).
    Withheld,
    /// Not queued: the socket's buffer is full or it is gone.
    Failed(SendError),
}

impl From<Result<(), SendError>> for Sent {
    fn from(r: Result<(), SendError>) -> Self {
        r.map_or_else(Sent::Failed, |()| Sent::Delivered)
    }
}

/// The `event_batch` payload.
#[derive(Serialize)]
struct EventBatchMsg<'a> {
    variant: &'a str,
    events: &'a [&'a RawValue],
}

/// Splits one socket's events of a step into `event_batch`es of at most [`BATCH_MAX_EVENTS`]
/// events and about [`BATCH_MAX_BYTES`] bytes (a single larger event travels alone).
fn batches<'a>(events: &'a [&'a RawValue]) -> impl Iterator<Item = &'a [&'a RawValue]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut n = 0;
        while n < rest.len() && n < BATCH_MAX_EVENTS {
            bytes += rest[n].get().len() + 1;
            if n > 0 && bytes > BATCH_MAX_BYTES {
                break;
            }
            n += 1;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

impl Fanout {
    /// Fan-out through `io`; cut-off retries run under `tasks`.
    pub fn new(io: SocketIo, tasks: Supervisor) -> Self {
        Self {
            io,
            tasks,
            slow_disconnects: AtomicU64::new(0),
        }
    }

    /// How many clients were cut off for falling behind (since start).
    pub fn slow_disconnects(&self) -> u64 {
        self.slow_disconnects.load(Ordering::Relaxed)
    }

    /// Queues `json` as `event` on every socket in `rooms` (each socket once); returns the
    /// sockets whose buffer is full (they missed this message and must be cut off). For
    /// messages that belong to no variant (bars); variant messages use [`Fanout::emit_variant`].
    pub fn emit(&self, rooms: Vec<String>, event: &str, json: &RawValue) -> Vec<SocketRef> {
        let mut slow = Vec::new();
        self.emit_checked(None, rooms, event, json, &mut slow);
        slow
    }

    /// [`Fanout::emit`] for a message of `variant`: only sockets that follow `variant` and are
    /// granted it receive it, whatever rooms they are in.
    pub fn emit_variant(
        &self,
        variant: &str,
        rooms: Vec<String>,
        event: &str,
        json: &RawValue,
    ) -> Vec<SocketRef> {
        let mut slow = Vec::new();
        self.emit_checked(Some(variant), rooms, event, json, &mut slow);
        slow
    }

    /// Pushes one fan-out step's events of `variant` (in seq order) to the variant's room and
    /// each event's symbol room: `event_new` per event, or one `event_batch` per socket for
    /// sockets that asked for `batch`. Sockets already in `slow` (found full earlier) are skipped,
    /// so a client that missed a message never gets a later one before it is cut off (it would
    /// otherwise resume after the gap); newly full sockets are added to `slow`.
    ///
    /// The receivers, their grants and their subscriptions are resolved once per step, not once
    /// per event.
    pub fn emit_events(
        &self,
        variant: &str,
        events: &[Arc<PublishedEvent>],
        slow: &mut Vec<SocketRef>,
    ) {
        let Some(ns) = self.io.of("/") else {
            return;
        };
        // Sockets of the variant room take every event (`None`); those of a symbol room only
        // that symbol's.
        let mut receivers: HashMap<Sid, (SocketRef, Option<Vec<&str>>)> = HashMap::new();
        for socket in ns.clone().to(variant_room(variant)).sockets() {
            receivers.insert(socket.id, (socket, None));
        }
        let mut symbols: Vec<&str> = events.iter().map(|p| p.vt_symbol.as_str()).collect();
        symbols.sort_unstable();
        symbols.dedup();
        for symbol in symbols {
            for socket in ns.clone().to(symbol_room(variant, symbol)).sockets() {
                match receivers.entry(socket.id) {
                    Entry::Occupied(mut e) => {
                        if let Some(only) = &mut e.get_mut().1 {
                            only.push(symbol);
                        }
                    }
                    Entry::Vacant(e) => {
                        e.insert((socket, Some(vec![symbol])));
                    }
                }
            }
        }
        // Resolved once per step: who follows the variant, with which options.
        let mut plain = Vec::new();
        let mut batched = Vec::new();
        for (socket, only) in receivers.into_values() {
            if slow.iter().any(|s| s.id == socket.id) {
                continue;
            }
            match with_subscription(&socket, variant, |sub| sub.batch) {
                Some(true) => batched.push((socket, only)),
                Some(false) => plain.push((socket, only, false)),
                None => {
                    // Unreachable while room names are unambiguous; never deliver it regardless.
                    tracing::error!(sid = %socket.id, %variant, "withheld events from a socket that does not follow or is not granted their variant");
                }
            }
        }
        let wants = |only: &Option<Vec<&str>>, p: &PublishedEvent| {
            only.as_ref()
                .is_none_or(|o| o.contains(&p.vt_symbol.as_str()))
        };
        let mut delivered = 0u64;
        // Event by event across the sockets (each socket's writer drains while the others are
        // served); a socket gets nothing more in this step after a refusal, so never a gap.
        for p in events {
            for (socket, only, refused) in plain.iter_mut() {
                if *refused || !wants(only, p) {
                    continue;
                }
                match socket.emit("event_new", &p.json) {
                    Ok(()) => delivered += 1,
                    Err(err) => {
                        *refused = true;
                        if is_full(&err) {
                            slow.push(socket.clone());
                        }
                    }
                }
            }
        }
        // What a batch socket without a symbol filter gets: the same list for all of them.
        let all: Vec<&RawValue> = events.iter().map(|p| &*p.json).collect();
        for (socket, only) in batched {
            let own: Vec<&RawValue>;
            let list = match only {
                None => &all,
                Some(_) => {
                    own = events
                        .iter()
                        .filter(|p| wants(&only, p))
                        .map(|p| &*p.json)
                        .collect();
                    &own
                }
            };
            for events in batches(list) {
                match socket.emit("event_batch", &EventBatchMsg { variant, events }) {
                    Ok(()) => delivered += events.len() as u64,
                    Err(err) => {
                        if is_full(&err) {
                            slow.push(socket);
                        }
                        break;
                    }
                }
            }
        }
        metrics::counter!("signalgate_messages_delivered_total").increment(delivered);
    }

    /// Pushes a snapshot change of `snap.variant` to `rooms`: `snapshot_update`, or to sockets
    /// with `deltas` that hold `old`'s version a `snapshot_delta` from `old` (computed once, on
    /// first use). Returns the sockets whose buffer is full.
    pub fn emit_snapshot(
        &self,
        rooms: Vec<String>,
        snap: &PublishedSnapshot,
        old: Option<&PublishedSnapshot>,
    ) -> Vec<SocketRef> {
        let mut slow = Vec::new();
        let mut delta: Option<Option<Box<RawValue>>> = None;
        self.each_socket(&snap.variant, rooms, &mut slow, |socket, sub| {
            let Some(held) = sub.held.as_mut() else {
                return socket.emit("snapshot_update", &snap.json).into();
            };
            let sent = match old.filter(|o| held.get(&snap.instance_id) == Some(&o.version)) {
                Some(old) => match delta.get_or_insert_with(|| snapshot_delta(old, snap)) {
                    Some(d) => socket.emit("snapshot_delta", d),
                    None => socket.emit("snapshot_update", &snap.json),
                },
                None => socket.emit("snapshot_update", &snap.json),
            };
            if sent.is_ok() {
                held.insert(snap.instance_id.clone(), snap.version);
            }
            sent.into()
        });
        slow
    }

    fn emit_checked(
        &self,
        variant: Option<&str>,
        rooms: Vec<String>,
        event: &str,
        json: &RawValue,
        slow: &mut Vec<SocketRef>,
    ) {
        let send = |socket: &SocketRef| Sent::from(socket.emit(event, json));
        match variant {
            Some(v) => self.each_socket(v, rooms, slow, |socket, _| send(socket)),
            None => self.each(rooms, slow, send),
        }
    }

    /// Runs `send` on every socket of `rooms` that follows `variant` and is granted it (with its
    /// subscription), except those in `slow`; sockets found full are added to `slow`.
    fn each_socket(
        &self,
        variant: &str,
        rooms: Vec<String>,
        slow: &mut Vec<SocketRef>,
        mut send: impl FnMut(&SocketRef, &mut Subscription) -> Sent,
    ) {
        self.each(rooms, slow, |socket| {
            match with_subscription(socket, variant, |sub| send(socket, sub)) {
                Some(sent) => sent,
                None => {
                    // Unreachable while room names are unambiguous; never deliver it regardless.
                    tracing::error!(sid = %socket.id, %variant, "withheld a message from a socket that does not follow or is not granted its variant");
                    Sent::Withheld
                }
            }
        });
    }

    /// Runs `send` on every socket of `rooms` (each once) except those in `slow`; sockets
    /// found full are added to `slow`.
    fn each(
        &self,
        rooms: Vec<String>,
        slow: &mut Vec<SocketRef>,
        mut send: impl FnMut(&SocketRef) -> Sent,
    ) {
        // `io.to` panics once the namespace is gone (after `io.close()` at shutdown).
        let Some(ns) = self.io.of("/") else {
            return;
        };
        let mut delivered = 0u64;
        for socket in ns.to(rooms).sockets() {
            if slow.iter().any(|s| s.id == socket.id) {
                continue;
            }
            match send(&socket) {
                Sent::Delivered => delivered += 1,
                Sent::Withheld => {}
                Sent::Failed(err) if is_full(&err) => slow.push(socket),
                Sent::Failed(_) => {}
            }
        }
        metrics::counter!("signalgate_messages_delivered_total").increment(delivered);
    }

    /// Queues `overview_update` with the changed summaries on every socket of the overview
    /// room, each filtered by the socket's grants (nothing when none of them is granted);
    /// returns the sockets whose buffer is full.
    pub fn emit_overview(&self, changes: &[super::overview::Change]) -> Vec<SocketRef> {
        let Some(ns) = self.io.of("/") else {
            return Vec::new();
        };
        let texts = |g: Option<&Grants>| {
            let items = changes
                .iter()
                .filter(move |(v, _)| g.is_none_or(|g| g.allows(v)))
                .map(|(_, json)| &**json);
            super::overview::list_json("", items)
        };
        // Without a token every socket gets the same text: built once.
        let mut everything = None;
        let (mut slow, mut delivered) = (Vec::new(), 0u64);
        for socket in ns.to(super::overview::OVERVIEW_ROOM).sockets() {
            let grants = socket.extensions.get::<Arc<Grants>>();
            let own;
            let body = match &grants {
                None => everything.get_or_insert_with(|| texts(None)).as_deref(),
                Some(g) if changes.iter().any(|(v, _)| g.allows(v)) => {
                    own = texts(Some(g));
                    own.as_deref()
                }
                Some(_) => continue,
            };
            let Some(body) = body else { continue };
            match socket.emit("overview_update", body) {
                Ok(()) => delivered += 1,
                Err(SendError::Socket(SocketError::InternalChannelFull)) => slow.push(socket),
                Err(_) => {}
            }
        }
        metrics::counter!("signalgate_messages_delivered_total").increment(delivered);
        slow
    }

    /// Disconnects clients that fell too far behind. They leave every room at once (so they
    /// miss nothing silently: they get nothing more), and the disconnect packet is retried
    /// until their buffer has room or the heartbeat declares them dead.
    pub fn cut_off(&self, slow: Vec<SocketRef>) {
        for socket in slow {
            self.slow_disconnects.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("signalgate_slow_disconnects_total").increment(1);
            tracing::warn!(sid = %socket.id, reason = "slow_consumer", "send buffer full; disconnecting client (it can resume with since_seq)");
            socket.leave_all();
            self.tasks
                .spawn("slow-client-disconnect", |token| async move {
                    // Poll for buffer room: a full socket.io channel rejects the disconnect packet.
                    // A peer that never reads again is closed by the Engine.IO heartbeat instead
                    // (its ping cannot be queued), so stop trying after a while.
                    let mut tick = tokio::time::interval(DISCONNECT_RETRY);
                    for _ in 0..DISCONNECT_ATTEMPTS {
                        if !socket.connected() || socket.clone().disconnect().is_ok() {
                            break;
                        }
                        tokio::select! {
                            _ = tick.tick() => {}
                            _ = token.cancelled() => break,
                        }
                    }
                });
        }
    }
}

/// Whether a send failed because the socket's buffer is full (a slow client).
fn is_full(err: &SendError) -> bool {
    matches!(err, SendError::Socket(SocketError::InternalChannelFull))
}
