//! Realtime push over Socket.IO (v4, namespace `/`, websocket and long-polling).
//!
//! - [`hub`]: the instance's live state (snapshot cache, per-variant state and lock);
//! - `apply`: applies bus messages (events, snapshots, resets) and pushes them to the rooms;
//! - `variant`: one variant's state (history, epoch, room membership) and a socket's subscriptions;
//! - [`history`]: one variant's head, floor and ring (pure, unit-tested);
//! - `budget`: one byte budget for all rings, spent first on variants with subscribers;
//! - [`subscribe`]: the subscribe ack and room joins, atomic with live events;
//! - [`fanout`]: emitting into rooms and cutting off slow clients;
//! - [`consumer`]: applies bus messages to the hub;
//! - [`bars`]: live bars (`subscribe_bars`, `bar_update`): the followed series and their pushes;
//!   [`bars::poller`] reads them and publishes them on a bus;
//! - [`handlers`], [`protocol`], [`order`]: the Socket.IO wiring, request types, per-socket order;
//! - [`admission`], [`auth`]: the connect middleware that runs before registration (connection
//!   cap and `Origin`, then the token).

pub mod admission;
mod apply;
pub mod auth;
pub mod bars;
mod budget;
pub mod consumer;
pub mod fanout;
pub mod handlers;
pub mod history;
pub mod hub;
pub mod order;
pub mod protocol;
mod subscribe;
mod variant;

use std::{sync::Arc, time::Duration};

use socketioxide::{SocketIo, handler::ConnectHandler, layer::SocketIoLayer};

use crate::config::RealtimeConfig;

/// Builds the Socket.IO layer and handle with the configured buffers and heartbeat, the hub and
/// the live bars and the token verifier as state, and the `/` namespace handlers.
pub fn build_io(
    config: &RealtimeConfig,
    hub: Arc<hub::Hub>,
    bars: Arc<bars::LiveBars>,
    auth: auth::SocketAuth,
    admission: Arc<admission::Admission>,
) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(config.socket_buffer)
        .ws_read_buffer_size(config.ws_read_buffer)
        // One inbound limit on both transports (the polling limit also caps how many bytes of
        // queued packets one long-polling response batches; a bigger packet still goes alone).
        .max_payload(config.max_message_bytes as u64)
        .ws_max_message_size(config.max_message_bytes)
        .ws_max_frame_size(config.max_message_bytes)
        .ping_interval(Duration::from_millis(config.ping_interval_ms))
        .ping_timeout(Duration::from_millis(config.ping_timeout_ms))
        .with_state(hub)
        .with_state(bars)
        .with_state(auth)
        .with_state(admission)
        .build_layer();
    // The last `.with` runs first: limits, then authentication, then registration; nothing
    // is registered for a refused socket.
    io.ns(
        "/",
        handlers::on_connect
            .with(handlers::register)
            .with(auth::authenticate)
            .with(admission::admit),
    );
    (layer, io)
}
