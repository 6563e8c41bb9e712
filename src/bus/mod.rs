//! The bus between the poller and the realtime side of every instance.
//!
//! In one process it is [`LocalBus`]; in group mode [`RedisBus`] puts Redis pub/sub behind the
//! same [`Bus`] trait so one elected poller feeds every instance (wire format: [`Envelope`]). Any number of consumers may
//! [`Bus::subscribe`]; each gets every message published after it subscribed.
//!
//! Messages carry enough to detect loss: an [`EventBatch`] says it holds *every* event of its
//! variant in `(after_seq, upto_seq]`, so a consumer that sees `after_seq` beyond its own head
//! knows it missed something and refills the gap from the database. A failed publish is
//! reported to the poller, which then keeps its cursor and retries: nothing is skipped.

mod envelope;
mod local;
mod message;
mod positions;
mod redis;

use std::pin::Pin;

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};

pub use envelope::{Envelope, EnvelopeError};
pub use local::LocalBus;
pub use message::{
    BusMessage, EventBatch, PublishedBar, PublishedEvent, PublishedSnapshot, StreamReset,
};
pub use positions::StreamPositions;
pub use redis::{GroupKeys, Incoming, LeaseToken, RedisBus, Terms};

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Nobody is listening (the consumers are shutting down).
    #[error("no bus subscriber")]
    NoSubscribers,
    /// The transport failed (e.g. Redis unreachable).
    #[error("bus transport failed: {0}")]
    Transport(String),
}

/// Carries poller output to every instance's realtime side.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends a message to every subscriber, waiting if a queue is full.
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError>;
    /// A new consumer: receives every message published from now on.
    fn subscribe(&self) -> BusReceiver;
}

/// The consumer side of a bus subscription; ends (`None`) when the bus goes away.
pub struct BusReceiver(Pin<Box<dyn Stream<Item = BusMessage> + Send>>);

impl std::fmt::Debug for BusReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusReceiver")
    }
}

impl BusReceiver {
    /// Wraps any stream of messages.
    pub fn new(stream: impl Stream<Item = BusMessage> + Send + 'static) -> Self {
        Self(Box::pin(stream))
    }

    /// The next message, or `None` once the bus is closed.
    pub async fn recv(&mut self) -> Option<BusMessage> {
        self.0.next().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: i64) -> BusMessage {
        BusMessage::Events(EventBatch {
            variant: "v".into(),
            after_seq: n - 1,
            upto_seq: n,
            events: Vec::new(),
        })
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_message_and_dropped_ones_are_forgotten() {
        let bus = LocalBus::new();
        assert!(matches!(
            bus.publish(msg(1)).await,
            Err(BusError::NoSubscribers)
        ));
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(msg(2)).await.expect("published");
        for rx in [&mut a, &mut b] {
            let Some(BusMessage::Events(batch)) = rx.recv().await else {
                panic!("expected a batch");
            };
            assert_eq!(batch.upto_seq, 2);
        }
        drop(a);
        drop(b);
        assert!(matches!(
            bus.publish(msg(3)).await,
            Err(BusError::NoSubscribers)
        ));
    }
}
