//! Live bars: `subscribe_bars` / `unsubscribe_bars` and the `bar_update` push.
//!
//! A socket subscribes to a bar series (`vt_symbol`, `interval`): it joins the room
//! `bars:<vt_symbol>:<interval>` and its ack holds the series' latest bar, read from the database
//! by this instance (first paint). [`LiveBars`] is the instance's registry of followed series;
//! the [`poller`] reads the latest bar of followed series, all of them in one statement
//! ([`Store::latest_bars`]) every `--bars-poll-interval-ms`, and publishes them on a bus
//! ([`BusMessage::Bars`](crate::bus::BusMessage)); the bus consumer hands them to
//! [`LiveBars::apply`], which pushes `bar_update` to the series' room when the bar differs from
//! the one this instance pushed last. Series nobody follows are never read.
//!
//! Alone (and in degraded group mode) an instance polls the series its own clients follow into
//! its local bus; in group mode the leader polls the series followed anywhere in the group
//! (announced in Redis, see [`crate::group`]) and publishes them on the group bus.
//!
//! A series of an interval the symbol has no stored bars of is resampled from its 1-minute
//! bars: the ack and the pushes carry the current bucket (see [`crate::store::resample`]).
//!
//! Only the *latest* bar is pushed: when several bars were written between two polls, a client
//! sees a jump in time and re-reads the missing ones over REST (the dashboard does).

pub mod poller;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use chrono_tz::Tz;
use serde_json::{Value, json};
use socketioxide::extract::SocketRef;
use tokio::sync::Notify;

use super::{fanout::Fanout, protocol::ProtoError, variant::lock};
use crate::{
    bus::PublishedBar,
    domain::Bar,
    store::{
        BarSeries, Store, StoreError,
        resample::{current_bucket, is_stored},
    },
};

/// Most series one socket may follow (a dashboard shows one chart; a few for split views).
pub const MAX_SERIES_PER_SOCKET: usize = 8;

/// The series one socket follows (kept in its extensions).
#[derive(Debug, Clone, Default)]
pub struct BarSubscriptions(Arc<Mutex<HashSet<BarSeries>>>);

/// A followed series: how many sockets follow it and the last bar pushed for it.
#[derive(Debug, Default)]
struct Watched {
    sockets: usize,
    last: Option<Arc<PublishedBar>>,
}

/// The series this instance's sockets follow, and what was pushed for each.
#[derive(Debug)]
pub struct LiveBars {
    store: Arc<dyn Store>,
    /// Zone of VnPy's naive bar times.
    tz: Tz,
    series: Mutex<HashMap<BarSeries, Watched>>,
    /// Woken when a series becomes followed here.
    added: Notify,
}

impl LiveBars {
    /// A registry reading acks from `store`, bars stored in zone `tz`.
    pub fn new(store: Arc<dyn Store>, tz: Tz) -> Self {
        Self {
            store,
            tz,
            series: Mutex::default(),
            added: Notify::new(),
        }
    }

    /// The room of a series.
    pub fn room(s: &BarSeries) -> String {
        format!("bars:{}:{}", s.vt_symbol, s.interval.as_str())
    }

    /// How many series have subscribers here.
    pub fn followed(&self) -> usize {
        lock(&self.series).len()
    }

    /// The series that have subscribers here.
    pub fn followed_series(&self) -> Vec<BarSeries> {
        lock(&self.series).keys().cloned().collect()
    }

    /// Resolves once a series becomes followed here (after the call, or since the last one).
    pub async fn added(&self) {
        self.added.notified().await;
    }

    /// Subscribes `socket` to `series` (again: a no-op) and returns the ack with the latest bar
    /// (`null` when the series has none yet).
    pub async fn subscribe(
        &self,
        socket: &SocketRef,
        series: BarSeries,
    ) -> Result<Value, ProtoError> {
        let subs = socket
            .extensions
            .get::<BarSubscriptions>()
            .unwrap_or_default();
        let added = {
            let mut mine = lock(&subs.0);
            if !mine.contains(&series) && mine.len() >= MAX_SERIES_PER_SOCKET {
                return Err(ProtoError::new(
                    "too_many_subscriptions",
                    format!(
                        "a socket may follow at most {MAX_SERIES_PER_SOCKET} bar series; unsubscribe_bars one first"
                    ),
                ));
            }
            mine.insert(series.clone())
        };
        let mut first = false;
        if added {
            socket.join(Self::room(&series));
            let mut all = lock(&self.series);
            let w = all.entry(series.clone()).or_default();
            w.sockets += 1;
            first = w.sockets == 1;
        }
        match self.latest(&series).await {
            Ok(bar) => {
                if let Some(pushed) = bar
                    .as_ref()
                    .and_then(|b| PublishedBar::new(&series, b).ok())
                {
                    self.first_paint(&series, pushed);
                }
                if first {
                    // After the first paint is recorded: the group leader, told now, cannot
                    // publish this bar before this instance knows it was sent.
                    self.added.notify_one();
                }
                Ok(
                    json!({"ok": true, "vt_symbol": series.vt_symbol, "interval": series.interval, "bar": bar}),
                )
            }
            Err(err) => {
                tracing::warn!(error = %err, series = %Self::room(&series), "cannot read the latest bar for a subscribe_bars ack");
                if added {
                    // Refused as a whole: the client retries; an earlier subscription stays.
                    self.unsubscribe(socket, &series);
                }
                Err(ProtoError::new(
                    "unavailable",
                    "the latest bar could not be read from the database; retry",
                ))
            }
        }
    }

    /// The latest bar of `series`: stored, or the current bucket resampled from 1-minute bars.
    async fn latest(&self, series: &BarSeries) -> Result<Option<Bar>, StoreError> {
        let store = self.store.as_ref();
        if !is_stored(store, &series.vt_symbol, series.interval).await? {
            return current_bucket(store, self.tz, &series.vt_symbol, series.interval).await;
        }
        let rows = store.latest_bars(std::slice::from_ref(series)).await?;
        Ok(rows.first().map(|(_, b)| b.to_utc(self.tz)))
    }

    /// Counts the ack's bar as pushed when nothing was pushed for the series yet, so the first
    /// poll does not repeat it.
    fn first_paint(&self, series: &BarSeries, bar: Arc<PublishedBar>) {
        if let Some(w) = lock(&self.series).get_mut(series)
            && w.last.is_none()
        {
            w.last = Some(bar);
        }
    }

    /// Stops pushing `series` to `socket` (not subscribed: a no-op).
    pub fn unsubscribe(&self, socket: &SocketRef, series: &BarSeries) {
        let subs = socket
            .extensions
            .get::<BarSubscriptions>()
            .unwrap_or_default();
        if lock(&subs.0).remove(series) {
            socket.leave(Self::room(series));
            self.unwatch(series);
        }
    }

    /// Forgets every series of a socket that went away (it left its rooms already).
    pub fn socket_gone(&self, socket: &SocketRef) {
        if let Some(subs) = socket.extensions.get::<BarSubscriptions>() {
            let gone: Vec<BarSeries> = lock(&subs.0).drain().collect();
            for s in &gone {
                self.unwatch(s);
            }
        }
    }

    fn unwatch(&self, series: &BarSeries) {
        let mut all = lock(&self.series);
        if let Some(w) = all.get_mut(series) {
            w.sockets = w.sockets.saturating_sub(1);
            if w.sockets == 0 {
                all.remove(series);
            }
        }
    }

    /// Records `bar` as the latest of its series; true if the series is followed here and the
    /// bar differs from the last one pushed.
    fn is_news(&self, bar: &Arc<PublishedBar>) -> bool {
        match lock(&self.series).get_mut(&bar.series()) {
            Some(w) if !w.last.as_ref().is_some_and(|l| l.same_as(bar)) => {
                w.last = Some(bar.clone());
                true
            }
            _ => false,
        }
    }

    /// Pushes `bar_update` for every bar of a followed series that differs from the one pushed
    /// last (a duplicate or a series nobody here follows is skipped); returns how many.
    pub fn apply(&self, bars: &[Arc<PublishedBar>], fanout: &Fanout) -> usize {
        let mut slow = Vec::new();
        let mut pushed = 0;
        for bar in bars.iter().filter(|b| self.is_news(b)) {
            slow.extend(fanout.emit(vec![Self::room(&bar.series())], "bar_update", &bar.json));
            pushed += 1;
        }
        fanout.cut_off(slow);
        pushed
    }
}
