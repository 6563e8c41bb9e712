//! The bus consumer of one instance: applies every bus message to the hub (events, snapshots,
//! resets) or the live bars (bars), which push it to this instance's rooms. It owns its
//! [`BusReceiver`] and ends when the bus closes or the supervisor cancels it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{bars::LiveBars, fanout::Fanout, hub::Hub};
use crate::bus::{BusMessage, BusReceiver};

/// Feeds bus messages into the hub and the live bars until the bus closes or `cancel` fires.
pub async fn run(
    mut rx: BusReceiver,
    hub: Arc<Hub>,
    bars: Arc<LiveBars>,
    fanout: Arc<Fanout>,
    cancel: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => break,
            msg = rx.recv() => msg,
        };
        match msg {
            Some(BusMessage::Events(batch)) => hub.apply_events(batch, &fanout, &cancel).await,
            Some(BusMessage::Snapshot(snap)) => hub.apply_snapshot(snap, &fanout),
            Some(BusMessage::Reset(reset)) => hub.reset(reset, &fanout),
            Some(BusMessage::Bars(latest)) => {
                bars.apply(&latest, &fanout);
            }
            None => break,
        }
    }
}
