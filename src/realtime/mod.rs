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
//! - [`overview`]: one summary per variant, pushed coalesced to `subscribe_overview` sockets;
//! - [`handlers`], [`protocol`], [`order`]: the Socket.IO wiring, request types, per-socket order;
//! - [`admission`], [`auth`]: the connect middleware that runs before registration (connection
//!   cap and `Origin`, then the token).

pub mod admission;
mod apply;
pub mod auth;
pub mod bars;
mod budget;
pub mod consumer;
pub mod delta;
pub mod fanout;
pub mod handlers;
pub mod history;
pub mod hub;
pub mod order;
pub mod overview;
pub mod protocol;
mod subscribe;
mod variant;

pub use subscribe::RESUME_MAX_BYTES;

use std::{sync::Arc, time::Duration};

use socketioxide::{SocketIo, handler::ConnectHandler, layer::SocketIoLayer};

/// The bounds of the Socket.IO transport (from the realtime settings).
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Packets queued per socket before the client counts as too slow (`--socket-buffer`).
    pub socket_buffer: usize,
    /// Websocket read buffer per connection, bytes (`--ws-read-buffer`).
    pub ws_read_buffer: usize,
    /// Largest message a client may send on either transport (`--max-message-bytes`).
    pub max_message_bytes: usize,
    /// Engine.IO heartbeat: how often the server pings.
    pub ping_interval: Duration,
    /// Engine.IO heartbeat: a peer silent this long after a ping is dead.
    pub ping_timeout: Duration,
}

/// Builds the Socket.IO layer and handle with the transport's buffers and heartbeat, the hub and
/// the live bars and the token verifier as state, and the `/` namespace handlers.
pub fn build_io(
    config: Transport,
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
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
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

/// Copies the URI and header values of Socket.IO requests into their own small allocations.
///
/// hyper parses a request in place, so its header values are slices of the connection's read
/// buffer (16 KB). Engine.IO keeps the handshake request's parts for the whole life of the
/// session, which kept that buffer alive for every connection: two thirds of the memory of an
/// idle connection. Detaching them lets the buffer go once the connection is upgraded.
pub async fn detach_request(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.uri().path().starts_with("/socket.io") {
        return req;
    }
    if let Ok(uri) = axum::http::Uri::try_from(req.uri().to_string()) {
        // axum's router also keeps a clone of the original URI in the extensions.
        req.extensions_mut()
            .insert(axum::extract::OriginalUri(uri.clone()));
        *req.uri_mut() = uri;
    }
    for value in req.headers_mut().values_mut() {
        if let Ok(copy) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
            *value = copy;
        }
    }
    req
}
