//! The leader's heartbeat: what its poller has published so far (every variant's head seq and
//! every snapshot's version), sent on the channel about once a second.
//!
//! Pub/sub is at most once. A follower compares each heartbeat with its own positions *in
//! channel order* (everything published before the heartbeat has been applied by then), so a
//! position behind the heartbeat is a lost message, never one still in flight; it is refilled
//! from the database at once (see [`super::feed`]). A lost event or snapshot is therefore
//! repaired within about a second even if its variant then goes quiet.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{Bus, BusError, BusMessage, BusReceiver, Envelope, Heartbeat, RedisBus},
    poller::Seed,
};

/// How often the leader publishes its positions. Bounds how long a lost message stays lost.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// The Redis bus as the leader's poller sees it: records what was published.
#[derive(Debug)]
pub struct TrackingBus {
    inner: Arc<RedisBus>,
    published: Mutex<Seed>,
}

impl TrackingBus {
    /// Publishes through `inner`, starting from the poller's own starting positions.
    pub fn new(inner: Arc<RedisBus>, seed: Seed) -> Self {
        Self {
            inner,
            published: Mutex::new(seed),
        }
    }

    /// The positions published so far.
    pub fn heartbeat(&self) -> Heartbeat {
        self.published
            .lock()
            .map(|s| Heartbeat::from(s.clone()))
            .unwrap_or_default()
    }
}

#[async_trait]
impl Bus for TrackingBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        let position = match &msg {
            BusMessage::Events(b) => (b.variant.clone(), None, b.upto_seq),
            BusMessage::Snapshot(s) => (s.variant.clone(), Some(s.instance_id.clone()), s.version),
        };
        self.inner.publish(msg).await?;
        if let Ok(mut seed) = self.published.lock() {
            match position {
                (variant, None, upto) => {
                    let head = seed.heads.entry(variant).or_default();
                    *head = (*head).max(upto);
                }
                (variant, Some(instance), version) => {
                    seed.versions
                        .entry(variant)
                        .or_default()
                        .insert(instance, version);
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
