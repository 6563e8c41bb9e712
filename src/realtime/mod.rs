//! Realtime push over Socket.IO (v4, namespace `/`, websocket and long-polling): the
//! [`hub::Hub`] holds live state and fans out; [`handlers`] implements `subscribe` /
//! `unsubscribe`; [`protocol`] parses requests.

pub mod handlers;
pub mod hub;
pub mod protocol;

use std::{sync::Arc, time::Duration};

use socketioxide::{SocketIo, layer::SocketIoLayer};

use crate::config::Config;

/// Builds the Socket.IO layer and handle with the configured buffers and heartbeat.
pub fn build_io(config: &Config) -> (SocketIoLayer, SocketIo) {
    SocketIo::builder()
        .max_buffer_size(config.socket_buffer)
        .ws_read_buffer_size(config.ws_read_buffer)
        .ping_interval(Duration::from_millis(config.ping_interval_ms))
        .ping_timeout(Duration::from_millis(config.ping_timeout_ms))
        .build_layer()
}

/// Registers the `/` namespace handlers.
pub fn register(io: &SocketIo, hub: Arc<hub::Hub>) {
    // Handlers are registered synchronously in the closure, not in the returned future:
    // socketioxide sends the CONNECT ack before it spawns that future, so a client that emits
    // `subscribe` right after connecting would otherwise race the registration and be dropped.
    io.ns("/", move |socket: socketioxide::extract::SocketRef| {
        handlers::on_connect(socket, hub.clone());
        std::future::ready(())
    });
}
