//! The in-process bus (one gateway process): one bounded channel per subscriber, so a stalled
//! consumer slows the poller instead of growing memory.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Bus, BusError, BusMessage, BusReceiver};

/// Messages in flight per subscriber. 1024 batches is several seconds of peak traffic; beyond
/// it `publish` waits (back-pressure on the poller).
const CAPACITY: usize = 1024;

/// Fans every message out to every live subscriber.
#[derive(Debug, Default)]
pub struct LocalBus {
    subscribers: Mutex<Vec<mpsc::Sender<BusMessage>>>,
}

impl LocalBus {
    /// A bus with no subscribers yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn senders(&self) -> Vec<mpsc::Sender<BusMessage>> {
        self.subscribers
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        let senders = self.senders();
        if senders.is_empty() {
            return Err(BusError::NoSubscribers);
        }
        let mut delivered = 0;
        for tx in &senders {
            if tx.send(msg.clone()).await.is_ok() {
                delivered += 1;
            }
        }
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain(|tx| !tx.is_closed());
        }
        if delivered == 0 {
            return Err(BusError::NoSubscribers);
        }
        Ok(())
    }

    fn subscribe(&self) -> BusReceiver {
        let (tx, rx) = mpsc::channel(CAPACITY);
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.push(tx);
        }
        let mut rx = rx;
        BusReceiver::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
