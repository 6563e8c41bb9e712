//! Fan-out into Socket.IO rooms, and the slow-client cut-off.
//!
//! Messages are queued socket by socket (the JSON text is serialised once and only copied into
//! each frame), so a full send buffer is attributed to the right client: that client alone is
//! cut off. socketioxide's room broadcast reports full buffers without saying which socket.
//!
//! Variant messages ([`Fanout::emit_variant`]) are checked once more socket by socket (defence
//! in depth behind the room names): a socket gets a variant's message only when it follows that
//! variant and its token, if any, grants it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::value::RawValue;
use socketioxide::{SendError, SocketError, SocketIo, extract::SocketRef};

use super::hub::Subscriptions;
use crate::{auth::Grants, lifecycle::Supervisor};

/// How often a cut-off client's disconnect packet is retried, and how many times (one minute).
const DISCONNECT_RETRY: Duration = Duration::from_millis(200);
const DISCONNECT_ATTEMPTS: u32 = 300;

/// Queues messages on the sockets of rooms and cuts off clients that fall behind.
#[derive(Debug)]
pub struct Fanout {
    io: SocketIo,
    tasks: Supervisor,
    slow_disconnects: AtomicU64,
}

/// Whether `socket` follows `variant` and its token (if authentication is on) grants it. The
/// caller holds the variant's lock, under which subscriptions change, so this is exact.
fn may_receive(socket: &SocketRef, variant: &str) -> bool {
    let granted = socket
        .extensions
        .get::<Arc<Grants>>()
        .is_none_or(|g| g.allows(variant));
    granted
        && socket
            .extensions
            .get::<Subscriptions>()
            .is_some_and(|s| s.lock().contains_key(variant))
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

    /// Like [`Fanout::emit_variant`] for one message of a sequence: sockets already in `slow`
    /// (found full earlier in the sequence) are skipped, so a client that missed a message never
    /// gets a later one before it is cut off (it would otherwise resume after the gap); newly
    /// full sockets are added to `slow`.
    pub fn emit_variant_into(
        &self,
        variant: &str,
        rooms: Vec<String>,
        event: &str,
        json: &RawValue,
        slow: &mut Vec<SocketRef>,
    ) {
        self.emit_checked(Some(variant), rooms, event, json, slow);
    }

    fn emit_checked(
        &self,
        variant: Option<&str>,
        rooms: Vec<String>,
        event: &str,
        json: &RawValue,
        slow: &mut Vec<SocketRef>,
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
            if let Some(variant) = variant
                && !may_receive(&socket, variant)
            {
                // Unreachable while room names are unambiguous; never deliver it regardless.
                tracing::error!(sid = %socket.id, %variant, event, "withheld a message from a socket that does not follow or is not granted its variant");
                continue;
            }
            match socket.emit(event, json) {
                Ok(()) => delivered += 1,
                Err(SendError::Socket(SocketError::InternalChannelFull)) => slow.push(socket),
                Err(_) => {}
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
