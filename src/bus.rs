//! The bus between the poller and the rooms. Today it is in-process (a bounded channel, so a
//! stalled consumer slows the poller instead of growing memory); the scale-out step puts Redis
//! pub/sub behind the same [`Bus`] trait so one elected poller feeds every instance.
//!
//! Messages carry enough to detect loss: an [`EventBatch`] says it holds *every* event of its
//! variant in `(after_seq, upto_seq]`, so a consumer that sees `after_seq` beyond its own head
//! knows it missed something and refills the gap from the database.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::domain::{Event, Snapshot};

/// Messages in flight between a bus's queue and its consumer. 1024 batches is several seconds of
/// peak traffic; beyond it `publish` waits (back-pressure on the poller).
const LOCAL_BUS_CAPACITY: usize = 1024;

/// All events of one variant with `after_seq < seq <= upto_seq`, ascending.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// Variant.
    pub variant: String,
    /// The position this batch continues from.
    pub after_seq: i64,
    /// The position after this batch (may exceed the last event's seq when sequence numbers
    /// were burnt by ignored duplicate inserts).
    pub upto_seq: i64,
    /// The events.
    pub events: Vec<Event>,
}

/// What the poller publishes.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// New events of one variant.
    Events(EventBatch),
    /// A snapshot row changed (its newest content).
    Snapshot(Arc<Snapshot>),
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The consumer is gone (shutting down).
    #[error("bus closed")]
    Closed,
}

/// Carries poller output to the realtime hub.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends a message to every consumer, waiting if the queue is full.
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError>;
    /// Hands out the consumer side; `None` after the first call.
    fn take_receiver(&self) -> Option<mpsc::Receiver<BusMessage>>;
}

/// The in-process bus (one gateway process).
pub struct LocalBus {
    tx: mpsc::Sender<BusMessage>,
    rx: Mutex<Option<mpsc::Receiver<BusMessage>>>,
}

impl LocalBus {
    /// A new bus with the default capacity.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(LOCAL_BUS_CAPACITY);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        self.tx.send(msg).await.map_err(|_| BusError::Closed)
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<BusMessage>> {
        self.rx.lock().ok()?.take()
    }
}
