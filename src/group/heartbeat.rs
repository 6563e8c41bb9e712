//! The leader's heartbeat: what its poller has published so far (every variant's head seq, every
//! snapshot's version, and the epoch of every variant that was reset), sent on the channel about
//! once a second.
//!
//! Pub/sub is at most once. A follower compares each heartbeat with its own positions *in
//! channel order* (everything published before the heartbeat has been applied by then), so a
//! position behind the heartbeat is a lost message, never one still in flight; it is refilled
//! from the database at once (see [`super::feed`]). A lost event or snapshot is therefore
//! repaired within about a second even if its variant then goes quiet.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{
        Bus, BusError, BusMessage, BusReceiver, Envelope, RedisBus, StreamPositions, StreamReset,
    },
    realtime::hub::epoch_database,
};

/// How often the leader publishes its positions. Bounds how long a lost message stays lost.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// The Redis bus as the leader's poller sees it: records what was published.
#[derive(Debug)]
pub struct TrackingBus {
    inner: Arc<RedisBus>,
    published: Mutex<StreamPositions>,
}

impl TrackingBus {
    /// Publishes through `inner`, starting from the poller's own starting positions and the
    /// hub's epochs (variants that were reset keep their epoch across leaders).
    pub fn new(
        inner: Arc<RedisBus>,
        seed: StreamPositions,
        epochs: HashMap<String, String>,
    ) -> Self {
        let mut hb = seed;
        hb.epochs = epochs;
        Self {
            inner,
            published: Mutex::new(hb),
        }
    }

    /// The positions published so far.
    pub fn heartbeat(&self) -> StreamPositions {
        self.published.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// What a published message moves.
enum Position {
    Head(String, i64),
    Version(String, String, i64),
    Reset(StreamReset),
}

#[async_trait]
impl Bus for TrackingBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        let position = match &msg {
            BusMessage::Events(b) => Position::Head(b.variant.clone(), b.upto_seq),
            BusMessage::Snapshot(s) => {
                Position::Version(s.variant.clone(), s.instance_id.clone(), s.version)
            }
            BusMessage::Reset(r) => Position::Reset(r.clone()),
            // Bars have no position: the bar poller re-sends them now and then instead.
            BusMessage::Bars(_) => return self.inner.publish(msg).await,
        };
        self.inner.publish(msg).await?;
        if let Ok(mut hb) = self.published.lock() {
            match position {
                Position::Head(variant, upto) => {
                    let head = hb.heads.entry(variant).or_default();
                    *head = (*head).max(upto);
                }
                Position::Version(variant, instance, version) => {
                    hb.versions
                        .entry(variant)
                        .or_default()
                        .insert(instance, version);
                }
                Position::Reset(r) => {
                    hb.database = epoch_database(&r.epoch).to_owned();
                    hb.heads.insert(r.variant.clone(), r.head);
                    hb.versions.remove(&r.variant);
                    hb.epochs.insert(r.variant, r.epoch);
                }
            }
        }
        Ok(())
    }

    fn subscribe(&self) -> BusReceiver {
        self.inner.subscribe()
    }
}

/// Publishes the leader's positions every [`HEARTBEAT_INTERVAL`] until cancelled.
pub async fn run(bus: Arc<RedisBus>, tracking: Arc<TrackingBus>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let hb = Envelope::Heartbeat(tracking.heartbeat());
        if let Err(err) = bus.publish_envelope(&hb).await {
            tracing::debug!(error = %err, "heartbeat not published");
        }
    }
}
