//! Live bars: `subscribe_bars` / `unsubscribe_bars` and the `bar_update` push.
//!
//! A socket subscribes to a bar series (`vt_symbol`, `interval`): it joins the room
//! `bars:<vt_symbol>:<interval>` and its ack holds the series' latest bar. One task
//! ([`LiveBars::run`]) reads the latest bar of every series that has at least one subscriber,
//! all of them in one statement ([`Store::latest_bars`]) every `--bars-poll-interval-ms`, and
//! pushes `bar_update` to the series' room when that bar is new or changed. Series nobody
//! follows are never read. Bars are pushed as `/api/bars` serves them (times in UTC).
//!
//! Only the *latest* bar is pushed: when several bars were written between two polls, a client
//! sees a jump in time and re-reads the missing ones over REST (the dashboard does).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono_tz::Tz;
use serde_json::{Value, json, value::to_raw_value};
use socketioxide::extract::SocketRef;
use tokio_util::sync::CancellationToken;

use super::{fanout::Fanout, protocol::ProtoError, variant::lock};
use crate::store::{BarSeries, Store, StoreError, StoredBar};

/// Most series one socket may follow (a dashboard shows one chart; a few for split views).
pub const MAX_SERIES_PER_SOCKET: usize = 8;
/// Most series read by one statement: 3 bind parameters each, far below every backend's limit,
/// and a statement small enough to plan quickly. More series take several statements.
const MAX_SERIES_PER_QUERY: usize = 200;

/// The series one socket follows (kept in its extensions).
#[derive(Debug, Clone, Default)]
pub struct BarSubscriptions(Arc<Mutex<HashSet<BarSeries>>>);

/// A followed series: how many sockets follow it and the last bar pushed for it.
#[derive(Debug, Default)]
struct Watched {
    sockets: usize,
    last: Option<StoredBar>,
}

/// The live-bar registry and poller.
#[derive(Debug)]
pub struct LiveBars {
    store: Arc<dyn Store>,
    /// Zone of VnPy's naive bar times.
    tz: Tz,
    series: Mutex<HashMap<BarSeries, Watched>>,
}

impl LiveBars {
    /// A registry reading bars from `store`, stored in zone `tz`.
    pub fn new(store: Arc<dyn Store>, tz: Tz) -> Self {
        Self {
            store,
            tz,
            series: Mutex::default(),
        }
    }

    /// The room of a series.
    pub fn room(s: &BarSeries) -> String {
        format!("bars:{}:{}", s.vt_symbol, s.interval.as_str())
    }

    /// How many series have subscribers (and are polled).
    pub fn followed(&self) -> usize {
        lock(&self.series).len()
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
        if added {
            socket.join(Self::room(&series));
            lock(&self.series)
                .entry(series.clone())
                .or_default()
                .sockets += 1;
        }
        match self.store.latest_bars(std::slice::from_ref(&series)).await {
            Ok(rows) => {
                let bar = rows.first().map(|(_, b)| b.to_utc(self.tz));
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

    /// Records `bar` as the latest of `series`; true if it differs from the last one pushed
    /// (and the series is still followed).
    fn is_news(&self, series: &BarSeries, bar: &StoredBar) -> bool {
        match lock(&self.series).get_mut(series) {
            Some(w) if w.last.as_ref() != Some(bar) => {
                w.last = Some(bar.clone());
                true
            }
            _ => false,
        }
    }

    /// Reads the latest bar of every followed series and pushes the new ones; returns how many
    /// `bar_update`s were pushed.
    pub async fn poll_once(&self, fanout: &Fanout) -> Result<usize, StoreError> {
        let followed: Vec<BarSeries> = lock(&self.series).keys().cloned().collect();
        let mut pushed = 0;
        for chunk in followed.chunks(MAX_SERIES_PER_QUERY) {
            for (i, bar) in self.store.latest_bars(chunk).await? {
                let Some(series) = chunk.get(i) else { continue };
                if !self.is_news(series, &bar) {
                    continue;
                }
                let msg = json!({"vt_symbol": series.vt_symbol, "interval": series.interval, "bar": bar.to_utc(self.tz)});
                let Ok(raw) = to_raw_value(&msg) else {
                    continue;
                };
                let slow = fanout.emit(vec![Self::room(series)], "bar_update", &raw);
                fanout.cut_off(slow);
                pushed += 1;
            }
        }
        Ok(pushed)
    }

    /// Polls every `every` until `token` is cancelled. A failed read is logged and retried at
    /// the next tick; nothing is lost because only the latest bar matters.
    pub async fn run(
        self: Arc<Self>,
        fanout: Arc<Fanout>,
        every: Duration,
        token: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => {}
            }
            if self.followed() == 0 {
                continue;
            }
            if let Err(err) = self.poll_once(&fanout).await {
                tracing::warn!(error = %err, "live bars: cannot read the latest bars; retrying");
            }
        }
    }
}
