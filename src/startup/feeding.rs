//! Standalone or group: the one place that decides. Everything that differs between running
//! alone and running in a group (`--redis-url`) is a method of [`Feeding`]: the role shown by
//! `/readyz` and `/metrics`, where the bus consumer reads, where live bars are polled, who runs
//! the poller and who prunes old events. The wiring in [`super::Application::build`] calls them
//! once each, top to bottom, and never asks which mode it is in.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::LOAD_RETRY;
use crate::{
    bus::BusReceiver,
    group::{Group, GroupStatus, Membership, PollParts},
    lifecycle::Supervisor,
    poller::Poller,
    realtime::{
        bars::{
            LiveBars,
            poller::{BarRoute, LocalRoute},
        },
        hub::Hub,
    },
    retention,
    store::{Store, StoreError},
};

/// Where this instance's live data comes from.
#[derive(Debug)]
pub enum Feeding {
    /// Alone: this instance polls its database into its local bus and prunes (`--retention`).
    Alone(PollParts),
    /// In a group: the [`Group`] elects the one poller, feeds the consumer from Redis (checked
    /// against heartbeats), and only its leader prunes.
    Group(Box<Group>),
}

impl Feeding {
    /// Alone without a `member`ship; otherwise a member of the group of this database (waiting
    /// while the database is unreachable: the group's keys are named after its identity).
    pub async fn new(member: Option<Membership>, parts: PollParts) -> anyhow::Result<Self> {
        let Some(member) = member else {
            return Ok(Self::Alone(parts));
        };
        let database_id = database_identity(parts.store.as_ref()).await?;
        Ok(Self::Group(Box::new(Group::new(
            &member,
            &database_id,
            parts,
        )?)))
    }

    /// The role and term shown by `/readyz` and `/metrics` (`standalone` alone).
    pub fn status(&self) -> Arc<GroupStatus> {
        match self {
            Self::Alone(_) => Arc::new(GroupStatus::default()),
            Self::Group(group) => group.status(),
        }
    }

    /// The bus consumer's receiver: `local` alone; in a group the Redis channel merged with it
    /// (the degraded poller publishes locally).
    pub fn receiver(&self, local: BusReceiver) -> BusReceiver {
        match self {
            Self::Alone(_) => local,
            Self::Group(group) => group.receiver(local),
        }
    }

    /// The live-bar poller's route. Alone, this instance polls its own series (`local`); in a
    /// group every instance announces its series (a task started here) and the leader polls
    /// them all.
    pub fn bar_route(
        &self,
        live: Arc<LiveBars>,
        local: LocalRoute,
        tasks: &Supervisor,
    ) -> Arc<dyn BarRoute> {
        match self {
            Self::Alone(_) => Arc::new(local),
            Self::Group(group) => {
                let group_bars = Arc::new(group.bars(live, local));
                let announcer = group_bars.clone();
                tasks.spawn_critical("bar-interest", move |token| announcer.announce(token));
                group_bars
            }
        }
    }

    /// Starts polling once `hub` is loaded: alone the poller (a component of its own, for as
    /// long as the application runs) and the `--retention` schedule; in a group the election
    /// loop, which starts and stops the poller, the heartbeat and the schedule by role.
    pub fn start(self, hub: Arc<Hub>, tasks: &Supervisor) {
        if let Self::Alone(parts) = &self {
            retention::start(parts.retention, parts.store.clone(), tasks);
        }
        let sup = tasks.clone();
        tasks.spawn_critical("poller-supervisor", move |token| async move {
            if !load_with_retry(&hub, &token).await {
                return;
            }
            match self {
                Self::Alone(p) => {
                    let seed = hub.seed();
                    let _poller =
                        Poller::new(p.store, p.local, seed, p.poller, p.liveness).start(&sup);
                    token.cancelled().await;
                }
                // Runs until the application stops.
                Self::Group(group) => group.run(sup).await,
            }
        });
    }
}

/// The database identity a group binds to ([`Store::database_id`]), waiting while the database
/// is unreachable: a group's Redis keys cannot be named without it. A database without one
/// (not migrated by this version) is an error.
async fn database_identity(store: &dyn Store) -> anyhow::Result<String> {
    let mut warned = false;
    loop {
        match store.database_id().await {
            Ok(id) => return Ok(id),
            Err(err @ StoreError::NoIdentity) => return Err(err.into()),
            Err(err) => {
                if !warned {
                    tracing::warn!(error = %err, "group mode: waiting for the database to read its identity");
                    warned = true;
                }
                tokio::time::sleep(LOAD_RETRY).await;
            }
        }
    }
}

/// Loads the hub, retrying every [`LOAD_RETRY`] until it works (true) or `token` is cancelled.
async fn load_with_retry(hub: &Hub, token: &CancellationToken) -> bool {
    while !hub.is_loaded() {
        tokio::select! {
            _ = token.cancelled() => return false,
            _ = tokio::time::sleep(LOAD_RETRY) => {}
        }
        match hub.load().await {
            Ok(()) => tracing::info!("live state loaded"),
            Err(err @ StoreError::NoIdentity) => {
                tracing::error!(error = %err, "cannot load live state");
            }
            Err(err) => tracing::debug!(error = %err, "still cannot load live state"),
        }
    }
    true
}
