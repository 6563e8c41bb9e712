//! What this instance's bus consumer reads in group mode: the Redis channel, filtered and
//! checked, merged with the local bus (fed by this instance's own poller while degraded).
//!
//! From the channel, in order:
//! * messages of an older term than the newest seen are dropped;
//! * a heartbeat is compared with the hub's positions. This happens when the consumer asks for
//!   its next message, i.e. after everything before the heartbeat has been applied, so a
//!   position behind the heartbeat means a lost message. Events are refilled by an empty
//!   [`EventBatch`] whose `after_seq` is the leader's head (the hub reads `(head, after_seq]`
//!   from the database); snapshots by re-reading the variant's rows, applying only the version
//!   the heartbeat names (a newer row will come on the channel; applying it early could let an
//!   older message overwrite it);
//! * a variant whose epoch differs from the heartbeat's missed a stream reset: it is reset too;
//! * after a reconnect or a lagging receiver ([`Incoming::Resync`]) the same comparison runs
//!   against the database's own positions.
//!
//! [`keep_subscribed`] keeps the channel's subscription up (and its connection tested).

use std::{
    collections::{BTreeSet, VecDeque},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use fred::prelude::ClientLike;
use futures_util::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{heartbeat::HEARTBEAT_INTERVAL, status::GroupStatus};
use crate::{
    bus::{
        BusMessage, BusReceiver, Envelope, EventBatch, Incoming, PublishedSnapshot, RedisBus,
        StreamPositions, StreamReset, Terms,
    },
    poller::PollerStatus,
    realtime::hub::Hub,
    store::Store,
};

/// Reads the channel for the consumer.
pub struct Feed {
    incoming: Pin<Box<dyn Stream<Item = Incoming> + Send>>,
    terms: Arc<Terms>,
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    status: Arc<GroupStatus>,
    liveness: Arc<PollerStatus>,
    /// Woken when the leader resigns.
    resigned: Arc<Notify>,
    /// Test hook: drop every Nth message (0 = never).
    drop_every: u64,
    received: u64,
    pending: VecDeque<BusMessage>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Everything a [`Feed`] needs.
#[derive(Debug)]
pub struct FeedParts {
    /// The hub whose positions are compared.
    pub hub: Arc<Hub>,
    /// Where gaps are read back from.
    pub store: Arc<dyn Store>,
    /// Group counters.
    pub status: Arc<GroupStatus>,
    /// Marked on every heartbeat: a follower is live while it hears the leader.
    pub liveness: Arc<PollerStatus>,
    /// Notified when the leader resigns.
    pub resigned: Arc<Notify>,
    /// Test hook.
    pub drop_every: u64,
}

impl Feed {
    /// A feed over `incoming` with the bus's `terms`.
    pub fn new(
        incoming: impl Stream<Item = Incoming> + Send + 'static,
        terms: Arc<Terms>,
        parts: FeedParts,
    ) -> Self {
        Self {
            incoming: Box::pin(incoming),
            terms,
            hub: parts.hub,
            store: parts.store,
            status: parts.status,
            liveness: parts.liveness,
            resigned: parts.resigned,
            drop_every: parts.drop_every,
            received: 0,
            pending: VecDeque::new(),
        }
    }

    /// One receiver for the consumer: the local bus and this feed, merged.
    pub fn merge(self, local: BusReceiver) -> BusReceiver {
        let local = futures_util::stream::unfold(local, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        });
        let group = futures_util::stream::unfold(self, |mut feed| async move {
            feed.next().await.map(|m| (m, feed))
        });
        BusReceiver::new(futures_util::stream::select(local, group))
    }

    /// The next message for the consumer; `None` once the bus has quit.
    pub async fn next(&mut self) -> Option<BusMessage> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Some(m);
            }
            match self.incoming.next().await? {
                Incoming::Resync(why) => {
                    self.terms.reset();
                    self.status
                        .counters
                        .resyncs
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(
                        reason = why,
                        "group bus: comparing positions with the database"
                    );
                    self.resync().await;
                }
                Incoming::Envelope(term, env) => {
                    if !self.terms.accept(term) {
                        self.status
                            .counters
                            .stale_dropped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    self.status.heard();
                    if self.status.role() != super::Role::Leader {
                        self.status.set_term(term);
                    }
                    match env {
                        Envelope::Message(m) => {
                            self.received += 1;
                            if self.drop_every > 0 && self.received.is_multiple_of(self.drop_every)
                            {
                                self.status
                                    .counters
                                    .test_dropped
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                continue;
                            }
                            return Some(m);
                        }
                        Envelope::Heartbeat(hb) => {
                            self.liveness.mark_ok();
                            self.check(hb, false).await;
                        }
                        Envelope::Resign => self.resigned.notify_one(),
                    }
                }
            }
        }
    }

    /// A variant in another epoch than the leader's missed a reset (or this instance joined
    /// after it): reset it here too, at the leader's position.
    fn check_epochs(&mut self, hb: &StreamPositions) {
        let mine = self.hub.all_epochs();
        // Variants not listed are in the leader's database's initial epoch (its identity).
        let initial = if hb.database.is_empty() {
            self.hub.database_id()
        } else {
            hb.database.clone()
        };
        let expected = |v: &String| hb.epochs.get(v).unwrap_or(&initial);
        let differ: BTreeSet<&String> = hb
            .epochs
            .keys()
            .chain(mine.keys())
            .filter(|v| Some(expected(v)) != mine.get(*v))
            .collect();
        for variant in differ {
            let epoch = expected(variant);
            tracing::warn!(%variant, %epoch, "missed a stream reset; resetting to the leader's epoch");
            self.status.repaired();
            self.pending.push_back(BusMessage::Reset(StreamReset {
                variant: variant.clone(),
                epoch: epoch.clone(),
                head: hb.heads.get(variant).copied().unwrap_or(0),
            }));
        }
    }

    /// Compares with the database's own positions.
    async fn resync(&mut self) {
        match self.store.poll_state().await {
            Ok(state) => {
                self.check(StreamPositions::from(state), true).await;
            }
            // The next heartbeat compares again.
            Err(err) => tracing::warn!(error = %err, "cannot read positions for a resync"),
        }
    }

    /// Queues repairs for every position of `hb` this hub is behind. `from_db`: the positions
    /// are the database's own, so any newer row may be applied.
    async fn check(&mut self, hb: StreamPositions, from_db: bool) {
        if !from_db {
            self.check_epochs(&hb);
        }
        let mine = self.hub.seed();
        for (variant, head) in hb.heads {
            let have = mine.heads.get(&variant).copied().unwrap_or(0);
            if have < head {
                tracing::info!(%variant, have, head, "behind the group; refilling from the database");
                self.status.repaired();
                self.pending.push_back(BusMessage::Events(EventBatch {
                    variant,
                    after_seq: head,
                    upto_seq: head,
                    events: Vec::new(),
                }));
            }
        }
        for (variant, versions) in hb.versions {
            let cached = mine.versions.get(&variant);
            let behind: Vec<(String, i64)> = versions
                .into_iter()
                .filter(|(i, v)| cached.and_then(|c| c.get(i)) != Some(v))
                .collect();
            if behind.is_empty() {
                continue;
            }
            let rows = match self.store.snapshots(Some(&variant)).await {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %err, %variant, "cannot re-read snapshots; next heartbeat retries");
                    continue;
                }
            };
            for row in rows {
                let Some((_, want)) = behind.iter().find(|(i, _)| *i == row.instance_id) else {
                    continue;
                };
                if !from_db && row.version != *want {
                    continue; // moved on since the heartbeat: the newer row is on its way
                }
                if cached.and_then(|c| c.get(&row.instance_id)) == Some(&row.version) {
                    continue;
                }
                match PublishedSnapshot::new(&row) {
                    Ok(p) => {
                        tracing::info!(%variant, instance = %row.instance_id, version = row.version, "missed a snapshot; re-read from the database");
                        self.status.repaired();
                        self.pending.push_back(BusMessage::Snapshot(p));
                    }
                    Err(err) => tracing::error!(error = %err, "cannot serialise snapshot"),
                }
            }
        }
    }
}

/// Subscribes to the channel (retrying until Redis answers), then pings the subscriber
/// connection every heartbeat interval so an unresponsive connection is noticed and reopened.
pub(super) async fn keep_subscribed(bus: Arc<RedisBus>, token: CancellationToken) {
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            r = bus.subscribe_channel() => match r {
                Ok(()) => break,
                Err(err) => tracing::debug!(error = %err, "cannot subscribe yet"),
            },
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(err) = bus.subscriber().ping::<()>(None).await {
            tracing::debug!(error = %err, "subscriber ping failed");
        }
    }
}
