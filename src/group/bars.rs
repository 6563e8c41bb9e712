//! Live bars in group mode: the leader polls the bar series followed anywhere in the group and
//! publishes them on the group bus; every instance pushes them to its own clients.
//!
//! * [`GroupBars::announce`] (every instance): keeps this instance's followed series in the
//!   group's [`Interest`], about once a second and at once when one is added.
//! * [`GroupBars`] as the bar poller's [`BarRoute`], asked at every bar poll:
//!   - **leader** — the group's interest, published on the Redis bus. The publish goes through
//!     the same lease-checked script as events: a leader that lost its lease cannot publish;
//!   - **follower** — no poll: bars arrive on the channel;
//!   - **degraded** — this instance's own series into its local bus, as a standalone gateway.
//!
//! The `subscribe_bars` ack stays a direct read by the instance that serves the client.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{
    GroupStatus, Role,
    interest::{ANNOUNCE_EVERY, Interest},
};
use crate::{
    bus::{Bus, RedisBus},
    realtime::bars::{
        LiveBars,
        poller::{BarRoute, LocalRoute, Route, Source},
    },
};

/// One instance's part in the group's live bars.
#[derive(Debug)]
pub struct GroupBars {
    bus: Arc<RedisBus>,
    status: Arc<GroupStatus>,
    interest: Interest,
    bars: Arc<LiveBars>,
    local: LocalRoute,
}

impl GroupBars {
    /// Live bars of `bars` in the group of `bus`; `local` is the route while degraded.
    pub fn new(
        bus: Arc<RedisBus>,
        status: Arc<GroupStatus>,
        bars: Arc<LiveBars>,
        local: LocalRoute,
    ) -> Self {
        let interest = Interest::new(bus.keys().bar_interest.clone());
        Self {
            bus,
            status,
            interest,
            bars,
            local,
        }
    }

    /// Announces this instance's followed series every [`ANNOUNCE_EVERY`] and whenever one is
    /// added, until `token` is cancelled. Failures (Redis away) are retried at the next round.
    pub async fn announce(self: Arc<Self>, token: CancellationToken) {
        let mut tick = tokio::time::interval(ANNOUNCE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => {}
                () = self.bars.added() => {}
            }
            let series = self.bars.followed_series();
            if series.is_empty() {
                continue;
            }
            let done = tokio::select! {
                _ = token.cancelled() => return,
                r = self.interest.announce(self.bus.client(), &series) => r,
            };
            if let Err(err) = done {
                tracing::debug!(error = %err, "cannot announce the followed bar series yet");
            }
        }
    }
}

#[async_trait]
impl BarRoute for GroupBars {
    async fn route(&self) -> Option<Route> {
        match self.status.role() {
            Role::Follower => None,
            Role::Degraded | Role::Standalone => Some(self.local.current()),
            Role::Leader => match self.interest.read(self.bus.client()).await {
                Ok(series) => Some(Route {
                    source: Source::Group,
                    series,
                    bus: self.bus.clone() as Arc<dyn Bus>,
                }),
                Err(err) => {
                    // The coordinator notices a Redis failure on its own and degrades.
                    tracing::debug!(error = %err, "cannot read the group's bar interest");
                    None
                }
            },
        }
    }
}
