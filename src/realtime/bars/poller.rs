//! The bar poller: every `--bars-poll-interval-ms` it asks its [`BarRoute`] which series to read
//! and where to publish, reads their latest bars in one statement per 200 series
//! ([`Store::latest_bars`]) and publishes the new or changed ones, one [`BusMessage::Bars`] per
//! statement (so a message stays below ~50 KB however many series are followed).
//!
//! * Alone or degraded: [`LocalRoute`], the series this instance's clients follow, published on
//!   the local bus.
//! * Group leader: the series followed anywhere in the group, published on the group bus
//!   (fenced by the lease, like events); a follower does not poll (see [`crate::group`]).
//!
//! A series whose interval the symbol has no stored bars of (`5m`, `4h`, ...) is followed
//! through its 1-minute bars: its latest bar is the current bucket, resampled from the minutes
//! since the bucket's start (two more statements per such series and poll).
//!
//! What was published is remembered per series, so an unchanged bar is not sent again, except
//! in a full re-send every [`RESEND_EVERY`]: pub/sub may lose a message, and this bounds how long
//! a lost bar stays lost. Consumers drop what they pushed already, so clients never see a
//! repeat. Counted in `signalgate_bar_polls_total` / `signalgate_bar_series_polled`.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::LiveBars;
use crate::{
    bus::{Bus, BusMessage, PublishedBar},
    domain::{Bar, Interval},
    store::{BarSeries, Store, StoreError, resample::current_bucket},
};

/// Most series read by one statement: 3 bind parameters each, far below every backend's limit,
/// and a statement small enough to plan quickly. More series take several statements.
const MAX_SERIES_PER_QUERY: usize = 200;
/// How often every polled bar is published again, changed or not.
pub const RESEND_EVERY: Duration = Duration::from_secs(5);

/// Where a poll's series come from, hence where its bars go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This instance's own followed series, to its local bus.
    Local,
    /// The group's followed series, to the group bus.
    Group,
}

/// What to poll now and where to publish it.
pub struct Route {
    /// Where `series` come from.
    pub source: Source,
    /// The series to read.
    pub series: Vec<BarSeries>,
    /// Where their bars go.
    pub bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("source", &self.source)
            .field("series", &self.series.len())
            .finish()
    }
}

/// Decides, at every tick, what the poller reads and where it publishes.
#[async_trait]
pub trait BarRoute: Send + Sync + std::fmt::Debug + 'static {
    /// The route for this tick; `None`: do not poll now (a group follower).
    async fn route(&self) -> Option<Route>;
}

/// This instance's followed series, published on its local bus.
#[derive(Clone)]
pub struct LocalRoute {
    bars: Arc<LiveBars>,
    bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for LocalRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRoute")
            .field("followed", &self.bars.followed())
            .finish()
    }
}

impl LocalRoute {
    /// The series of `bars`, published on `bus`.
    pub fn new(bars: Arc<LiveBars>, bus: Arc<dyn Bus>) -> Self {
        Self { bars, bus }
    }

    /// The route now.
    pub fn current(&self) -> Route {
        Route {
            source: Source::Local,
            series: self.bars.followed_series(),
            bus: self.bus.clone(),
        }
    }
}

#[async_trait]
impl BarRoute for LocalRoute {
    async fn route(&self) -> Option<Route> {
        Some(self.current())
    }
}

/// Reads the latest bars of the routed series and publishes what changed.
#[derive(Debug)]
pub struct BarPoller {
    store: Arc<dyn Store>,
    /// Zone of VnPy's naive bar times.
    tz: Tz,
    route: Arc<dyn BarRoute>,
    every: Duration,
    /// What was published for each series, under `source`.
    sent: HashMap<BarSeries, Arc<PublishedBar>>,
    source: Option<Source>,
    /// Polls under `source` (every `resend`-th one publishes everything).
    polls: u64,
}

impl BarPoller {
    /// A poller reading `store` (bars in zone `tz`) every `every`, routed by `route`.
    pub fn new(store: Arc<dyn Store>, tz: Tz, route: Arc<dyn BarRoute>, every: Duration) -> Self {
        Self {
            store,
            tz,
            route,
            every,
            sent: HashMap::new(),
            source: None,
            polls: 0,
        }
    }

    /// Polls every interval until `token` is cancelled. A failed read or publish is logged and
    /// retried at the next tick; nothing is lost because only the latest bar matters.
    pub async fn run(mut self, token: CancellationToken) {
        metrics::counter!("signalgate_bar_polls_total").increment(0);
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = token.cancelled() => return,
                () = self.tick() => {}
            }
        }
    }

    /// One tick: route, read, publish.
    async fn tick(&mut self) {
        let route = self.route.route().await;
        let series = route.as_ref().map_or(0, |r| r.series.len());
        metrics::gauge!("signalgate_bar_series_polled").set(series as f64);
        let Some(route) = route.filter(|r| !r.series.is_empty()) else {
            // Not polling: whatever is published next starts afresh.
            self.source = None;
            self.sent.clear();
            return;
        };
        if self.source != Some(route.source) {
            self.source = Some(route.source);
            self.sent.clear();
            self.polls = 0;
        }
        if let Err(err) = self.poll_once(&route).await {
            tracing::warn!(error = %err, "live bars: cannot read the latest bars; retrying");
        }
    }

    /// Reads the routed series and publishes the new or changed bars (all of them on a re-send
    /// poll), one message per statement; returns how many were published.
    #[tracing::instrument(name = "bar_poll", skip_all, fields(source = ?route.source, series = route.series.len()))]
    async fn poll_once(&mut self, route: &Route) -> Result<usize, StoreError> {
        let resend = (RESEND_EVERY.as_millis() / self.every.as_millis().max(1)).max(1) as u64;
        let everything = self.polls.is_multiple_of(resend);
        self.polls += 1;
        metrics::counter!("signalgate_bar_polls_total").increment(1);
        let wanted: HashSet<&BarSeries> = route.series.iter().collect();
        self.sent.retain(|s, _| wanted.contains(s));
        let mut published = 0;
        for chunk in route.series.chunks(MAX_SERIES_PER_QUERY) {
            let mut fresh = Vec::new();
            let mut latest: Vec<(&BarSeries, Bar)> = Vec::new();
            let mut found = vec![false; chunk.len()];
            for (i, bar) in self.store.latest_bars(chunk).await? {
                let Some(series) = chunk.get(i) else { continue };
                found[i] = true;
                latest.push((series, bar.to_utc(self.tz)));
            }
            // Series without stored bars of their interval: the current bucket resampled from
            // the 1-minute bars.
            for (series, _) in chunk
                .iter()
                .zip(&found)
                .filter(|(s, f)| !**f && s.interval != Interval::Minute)
            {
                let store = self.store.as_ref();
                if let Some(bar) =
                    current_bucket(store, self.tz, &series.vt_symbol, series.interval).await?
                {
                    latest.push((series, bar));
                }
            }
            for (series, bar) in latest {
                match PublishedBar::new(series, &bar) {
                    Ok(p)
                        if everything || !self.sent.get(series).is_some_and(|s| s.same_as(&p)) =>
                    {
                        fresh.push(p)
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!(error = %err, "cannot serialise a bar"),
                }
            }
            published += self.publish(route, fresh).await;
        }
        Ok(published)
    }

    /// Publishes `fresh` (if any) and remembers it; returns how many were published.
    async fn publish(&mut self, route: &Route, fresh: Vec<Arc<PublishedBar>>) -> usize {
        if fresh.is_empty() {
            return 0;
        }
        match route.bus.publish(BusMessage::Bars(fresh.clone())).await {
            Ok(()) => {
                let n = fresh.len();
                for p in fresh {
                    self.sent.insert(p.series(), p);
                }
                n
            }
            Err(err) => {
                // A leader that just lost its lease, or a bus shutting down: the next tick
                // reads and publishes again.
                tracing::debug!(error = %err, "live bars not published");
                0
            }
        }
    }
}
