//! Group mode: instances sharing a database and a `--redis-group` elect one poller.
//!
//! ```text
//!  leader:   poller ──▶ TrackingBus ──▶ Redis channel ◀── heartbeat (positions, 1/s)
//!  everyone: Redis channel ──▶ Feed (terms, heartbeat check, resync) ─┐
//!            degraded: own poller ──▶ LocalBus ────────────────────────┴─▶ consumer ──▶ hub
//! ```
//!
//! The coordinator ([`Group::run`]) holds the role:
//! * **follower** — tries to take the lease every tenth of the TTL (at once when the leader
//!   resigns); winning starts the poller (a [`Component`]) from the hub's own positions, plus
//!   the heartbeat, and the `--retention` schedule (so only one instance prunes);
//! * **leader** — renews every third of the TTL; losing the lease stops the poller first;
//! * **degraded** — any Redis error: the poller (if leading) stops, and this instance polls the
//!   database into its local bus until Redis answers and the subscription is back.
//!
//! Correctness never depends on the lease: consumers drop what they have (`seq`, version), a
//! lost message is refilled from the database, and a stale leader cannot publish (the publish
//! script checks the lease). On shutdown the leader releases the lease at once.
//!
//! Live bars ride the same bus: the leader polls the series followed anywhere in the group
//! ([`interest`]) and publishes them; see [`bars`].

mod bars;
mod feed;
mod heartbeat;
mod interest;
mod lease;
mod status;

use std::{sync::Arc, time::Duration};

use fred::prelude::ClientLike;
use tokio::sync::Notify;

use crate::{
    bus::{Bus, BusReceiver, GroupKeys, LeaseToken, RedisBus},
    config::DatabaseUrl,
    lifecycle::{Component, Supervisor},
    poller::{Poller, PollerConfig, PollerStatus},
    realtime::hub::Hub,
    store::Store,
};
pub use bars::GroupBars;
pub use feed::{Feed, FeedParts};
pub use heartbeat::{HEARTBEAT_INTERVAL, TrackingBus};
pub use lease::Lease;
pub use status::{GroupStatus, Role};

/// How long a stopping component may take.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Longest wait for one Redis command (shorter for short leases: a third of the TTL).
const MAX_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Which group to join, and how (the Redis settings' values).
#[derive(Debug, Clone)]
pub struct Membership {
    /// The Redis server (`--redis-url`).
    pub redis_url: DatabaseUrl,
    /// The group's name (`--redis-group`): with the database identity, it names the keys.
    pub group: String,
    /// The leader lease (`--redis-lease-ttl-ms`).
    pub lease_ttl: Duration,
    /// Test hook: drop every Nth event/snapshot message received from Redis (0 = never).
    pub drop_every: u64,
}

/// What polling needs from the application, alone or in a group (where the group starts and
/// stops the poller by role).
#[derive(Clone)]
pub struct PollParts {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The hub (positions to start a poller from, and to compare heartbeats with).
    pub hub: Arc<Hub>,
    /// The local bus: a standalone or degraded poller publishes here.
    pub local: Arc<dyn Bus>,
    /// Poller settings.
    pub poller: PollerConfig,
    /// Poller / heartbeat liveness for `/readyz`.
    pub liveness: Arc<PollerStatus>,
    /// `--retention`: who polls (alone, or the group's leader only) also prunes old events.
    pub retention: Option<Duration>,
}

impl std::fmt::Debug for PollParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollParts")
            .field("store", &self.store)
            .finish()
    }
}

/// One instance's membership in a group.
#[derive(Debug)]
pub struct Group {
    bus: Arc<RedisBus>,
    lease: Lease,
    parts: PollParts,
    status: Arc<GroupStatus>,
    resigned: Arc<Notify>,
    ttl: Duration,
    drop_every: u64,
}

/// What runs while in a role.
#[derive(Debug)]
enum Active {
    /// Nothing yet (follower).
    Idle,
    /// The leader's poller and heartbeat (and retention schedule).
    Leading {
        lease: LeaseToken,
        poller: Component,
        heartbeat: Component,
        retention: Option<Component>,
    },
    /// The degraded poller feeding the local bus.
    Local(Component),
}

impl Group {
    /// Prepares the membership `member` on the database with identity `database_id`
    /// ([`crate::store::Store::database_id`]); connects in [`Group::run`].
    pub fn new(member: &Membership, database_id: &str, parts: PollParts) -> anyhow::Result<Self> {
        let url = &member.redis_url;
        let ttl = member.lease_ttl;
        let timeout = (ttl / 3).min(MAX_COMMAND_TIMEOUT);
        let bus = Arc::new(
            RedisBus::new(
                url.expose(),
                GroupKeys::new(&member.group, database_id),
                timeout,
            )
            .map_err(|e| anyhow::anyhow!("--redis-url {url}: {e}"))?,
        );
        let instance = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        let lease = Lease::new(bus.keys().clone(), instance.clone(), ttl);
        Ok(Self {
            bus,
            lease,
            parts,
            status: Arc::new(
                GroupStatus::new(instance, Role::Follower).bound_to(&member.group, database_id),
            ),
            resigned: Arc::new(Notify::new()),
            ttl,
            drop_every: member.drop_every,
        })
    }

    /// The status shown by `/readyz`.
    pub fn status(&self) -> Arc<GroupStatus> {
        self.status.clone()
    }

    /// Live bars in this group: the bar poller's route and the announcer of `live`'s series;
    /// `local` is the route while degraded.
    pub fn bars(
        &self,
        live: Arc<crate::realtime::bars::LiveBars>,
        local: crate::realtime::bars::poller::LocalRoute,
    ) -> GroupBars {
        GroupBars::new(self.bus.clone(), self.status.clone(), live, local)
    }

    /// The consumer's receiver: the Redis channel (checked, see [`Feed`]) merged with `local`.
    pub fn receiver(&self, local: BusReceiver) -> BusReceiver {
        let parts = FeedParts {
            hub: self.parts.hub.clone(),
            store: self.parts.store.clone(),
            status: self.status.clone(),
            liveness: self.parts.liveness.clone(),
            resigned: self.resigned.clone(),
            drop_every: self.drop_every,
        };
        Feed::new(self.bus.incoming(), self.bus.terms(), parts).merge(local)
    }

    /// Connects and plays its role until `sup` is cancelled; then steps down (releasing the
    /// lease at once) and closes the Redis connections. Call once the hub is loaded.
    pub async fn run(self, sup: Supervisor) {
        tracing::info!(instance = %self.status.instance(), group = %self.status.group(), database_id = %self.status.database_id(), channel = %self.bus.keys().channel, ttl = ?self.ttl, "joining the group of this database");
        self.bus.connect();
        self.status.heard(); // the silence check counts from here
        let resubscriber = self.bus.subscriber().manage_subscriptions();
        let bus = self.bus.clone();
        sup.spawn_critical("redis-subscriber", |token| async move {
            feed::keep_subscribed(bus, token).await;
        });

        let token = sup.token().clone();
        // Give a reachable Redis a moment to accept the subscription before the first round,
        // so a normal start does not pass through degraded mode.
        let deadline = tokio::time::Instant::now() + self.ttl / 3;
        while !self.bus.is_subscribed() && tokio::time::Instant::now() < deadline {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        let mut active = Active::Idle;
        loop {
            let wait = self.round(&mut active, &sup).await;
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                _ = self.resigned.notified() => {}
            }
        }
        self.step_down(active).await;
        self.bus.quit().await;
        resubscriber.abort();
        tracing::info!("left the group");
    }

    /// One election round; returns how long to wait before the next.
    async fn round(&self, active: &mut Active, sup: &Supervisor) -> Duration {
        let client = self.bus.client();
        let renew_every = self.ttl / 3;
        let attempt_every = (self.ttl / 10).max(Duration::from_millis(50));
        if let Active::Leading { lease, .. } = active {
            return match self.lease.renew(client, lease).await {
                Ok(true) => renew_every,
                Ok(false) => {
                    tracing::warn!(
                        term = lease.term,
                        "lost the leader lease; stopping the poller"
                    );
                    self.switch(active, Active::Idle, Role::Follower).await;
                    Duration::ZERO
                }
                Err(err) => {
                    self.degrade(active, sup, &err.to_string()).await;
                    attempt_every
                }
            };
        }
        if !self.bus.is_subscribed() {
            // Cannot follow without the channel: keep serving from the database meanwhile.
            self.degrade(active, sup, "the subscription is not established")
                .await;
            return attempt_every;
        }
        match self.lease.acquire(client, self.bus.terms().highest()).await {
            Ok(Some(lease)) => {
                self.lead(active, sup, lease).await;
                renew_every
            }
            Ok(None) => {
                if !matches!(active, Active::Idle) {
                    tracing::info!("Redis is back: following the group leader again");
                    self.switch(active, Active::Idle, Role::Follower).await;
                }
                self.status.set_role(Role::Follower);
                self.check_deaf().await;
                attempt_every
            }
            Err(err) => {
                self.degrade(active, sup, &err.to_string()).await;
                attempt_every
            }
        }
    }

    /// Won the lease: stop the degraded poller, start the group poller from the hub's
    /// positions (what was applied here) and the heartbeat.
    async fn lead(&self, active: &mut Active, sup: &Supervisor, lease: LeaseToken) {
        self.switch(active, Active::Idle, Role::Follower).await;
        tracing::info!(
            term = lease.term,
            "elected group leader; polling the database"
        );
        self.bus.set_lease(Some(lease.clone()));
        self.status.set_term(lease.term);
        let p = &self.parts;
        let seed = p.hub.seed();
        let epochs = p.hub.epochs();
        let tracking = Arc::new(TrackingBus::new(self.bus.clone(), seed.clone(), epochs));
        let poller = Poller::new(
            p.store.clone(),
            tracking.clone(),
            seed,
            p.poller,
            p.liveness.clone(),
        )
        .start(sup);
        let bus = self.bus.clone();
        let heartbeat = Component::start(sup, "heartbeat", move |s| async move {
            heartbeat::run(bus, tracking, s.token().clone()).await;
        });
        let retention = p
            .retention
            .map(|older| crate::retention::start_leading(older, p.store.clone(), sup));
        *active = Active::Leading {
            lease,
            poller,
            heartbeat,
            retention,
        };
        self.status.set_role(Role::Leader);
    }

    /// Redis failed: poll the database locally (logged once per outage).
    async fn degrade(&self, active: &mut Active, sup: &Supervisor, why: &str) {
        if matches!(active, Active::Local(_)) {
            return;
        }
        tracing::warn!(reason = %why, "Redis unreachable: degraded mode, polling the database locally until it is back");
        self.switch(active, Active::Idle, Role::Degraded).await;
        let p = &self.parts;
        let poller = Poller::new(
            p.store.clone(),
            p.local.clone(),
            p.hub.seed(),
            p.poller,
            p.liveness.clone(),
        )
        .start(sup);
        *active = Active::Local(poller);
    }

    /// Stops whatever runs, then takes `role` with `next` running.
    async fn switch(&self, active: &mut Active, next: Active, role: Role) {
        match std::mem::replace(active, next) {
            Active::Idle => {}
            Active::Local(poller) => {
                poller.stop(STOP_GRACE).await;
            }
            Active::Leading {
                poller,
                heartbeat,
                retention,
                ..
            } => {
                self.bus.set_lease(None);
                poller.stop(STOP_GRACE).await;
                heartbeat.stop(STOP_GRACE).await;
                if let Some(r) = retention {
                    r.stop(STOP_GRACE).await;
                }
            }
        }
        self.status.set_role(role);
    }

    /// A follower that has heard nothing for longer than a hand-over takes forces its
    /// subscriber to reconnect (a half-open connection can look healthy); the reconnect
    /// triggers a resync.
    async fn check_deaf(&self) {
        let limit = (self.ttl + HEARTBEAT_INTERVAL * 3).as_millis() as i64;
        if self.status.silent_for_ms().is_some_and(|ms| ms > limit) {
            tracing::warn!("no heartbeat from the group leader; reconnecting the subscriber");
            self.status.heard(); // once per silence period
            let _ = self.bus.subscriber().force_reconnection().await;
        }
    }

    /// Stops the poller and releases the lease (shutdown).
    async fn step_down(&self, active: Active) {
        let lease = match &active {
            Active::Leading { lease, .. } => Some(lease.clone()),
            _ => None,
        };
        let mut active = active;
        self.switch(&mut active, Active::Idle, Role::Follower).await;
        if let Some(lease) = lease {
            match self.lease.release(self.bus.client(), &lease).await {
                Ok(true) => tracing::info!(term = lease.term, "released the leader lease"),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "could not release the lease; it expires by itself")
                }
            }
        }
    }
}
