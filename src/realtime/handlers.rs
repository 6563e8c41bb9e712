//! Socket.IO handlers: named functions with extractors, the hub as socketioxide state.
//!
//! Every request gets an ack: `{ok:true,..}` or `{ok:false, error:{code, message}}`; nothing is
//! dropped silently and nothing panics. Requests of one socket take effect in the order they
//! were sent ([`Turn`]).

use std::{convert::Infallible, sync::Arc};

use serde_json::{Value, json};
use socketioxide::{
    extract::{AckSender, Event, SocketRef, State, TryData},
    socket::DisconnectReason,
};

use super::{
    bars::{BarSubscriptions, LiveBars},
    hub::{Hub, Subscriptions},
    order::Turn,
    protocol::{
        self, BarsRequest, OverviewRequest, ProtoError, SubscribeRequest, UnsubscribeRequest,
    },
};
use crate::auth::Grants;

/// Connect middleware: sets up per-socket state and registers the event handlers.
///
/// This runs *before* socketioxide sends the CONNECT packet; the connect handler itself is
/// spawned after it. A client that emits `subscribe` right after connecting would otherwise race
/// the registration and be ignored. Authentication ([`super::auth::authenticate`]) runs
/// before it.
pub async fn register(socket: SocketRef) -> Result<(), Infallible> {
    let grants = socket.extensions.get::<Arc<Grants>>();
    socket.extensions.insert(Subscriptions::new(grants));
    socket.extensions.insert(BarSubscriptions::default());
    socket.on("subscribe", on_subscribe);
    socket.on("unsubscribe", on_unsubscribe);
    socket.on("subscribe_bars", on_subscribe_bars);
    socket.on("unsubscribe_bars", on_unsubscribe_bars);
    socket.on("subscribe_overview", on_subscribe_overview);
    socket.on("unsubscribe_overview", on_unsubscribe_overview);
    socket.on_fallback(on_unknown);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

/// The connect handler (after the CONNECT packet went out).
pub async fn on_connect(socket: SocketRef) {
    tracing::debug!(sid = %socket.id, transport = ?socket.transport_type(), "client connected");
}

/// The typed request of `event` from its payload (invalid JSON and shape errors name the event).
fn request<T: serde::de::DeserializeOwned>(
    event: &str,
    data: Result<Value, impl std::fmt::Display>,
) -> Result<T, ProtoError> {
    let value =
        data.map_err(|e| ProtoError::invalid(format!("{event} payload is not valid JSON: {e}")))?;
    protocol::parse::<T>(event, value)
}

async fn on_subscribe(
    s: SocketRef,
    turn: Turn,
    State(hub): State<Arc<Hub>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let _turn = turn.wait().await;
    let req = request::<SubscribeRequest>("subscribe", data)
        .and_then(|r| protocol::check_subscribe(&r, hub.limits().max_symbols).map(|()| r))
        .and_then(|r| super::auth::check_variant(&s, r.variant.as_str()).map(|()| r));
    let req = match req {
        Ok(req) => req,
        Err(err) => {
            let _ = ack.send(&err.to_ack());
            return;
        }
    };
    let subs = s.extensions.get::<Subscriptions>().unwrap_or_default();
    let variant = req.variant.clone();
    match hub.subscribe(&s, &subs, req, ack).await {
        Ok(()) => tracing::debug!(sid = %s.id, %variant, "subscribed"),
        Err((err, ack)) => {
            tracing::debug!(sid = %s.id, %variant, code = err.code, "subscribe refused");
            let _ = ack.send(&err.to_ack());
        }
    }
}

async fn on_unsubscribe(
    s: SocketRef,
    turn: Turn,
    State(hub): State<Arc<Hub>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let _turn = turn.wait().await;
    let reply = match request::<UnsubscribeRequest>("unsubscribe", data) {
        Ok(req) => {
            let subs = s.extensions.get::<Subscriptions>().unwrap_or_default();
            hub.unsubscribe(&s, &subs, req.variant.as_str());
            json!({"ok": true})
        }
        Err(e) => e.to_ack(),
    };
    let _ = ack.send(&reply);
}

async fn on_subscribe_bars(
    s: SocketRef,
    turn: Turn,
    State(bars): State<Arc<LiveBars>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let _turn = turn.wait().await;
    let reply = match request::<BarsRequest>("subscribe_bars", data) {
        Ok(req) => match bars.subscribe(&s, req.into()).await {
            Ok(ack) => ack,
            Err(e) => e.to_ack(),
        },
        Err(e) => e.to_ack(),
    };
    let _ = ack.send(&reply);
}

async fn on_unsubscribe_bars(
    s: SocketRef,
    turn: Turn,
    State(bars): State<Arc<LiveBars>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let _turn = turn.wait().await;
    let reply = match request::<BarsRequest>("unsubscribe_bars", data) {
        Ok(req) => {
            bars.unsubscribe(&s, &req.into());
            json!({"ok": true})
        }
        Err(e) => e.to_ack(),
    };
    let _ = ack.send(&reply);
}

/// The overview requests take `{}`; no payload at all counts as `{}`.
fn overview_request(event: &str, data: Result<Value, impl std::fmt::Display>) -> Option<Value> {
    let data = match data {
        Ok(Value::Null) => Ok(json!({})),
        other => other,
    };
    request::<OverviewRequest>(event, data)
        .err()
        .map(|e| e.to_ack())
}

async fn on_subscribe_overview(
    s: SocketRef,
    turn: Turn,
    State(hub): State<Arc<Hub>>,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let _turn = turn.wait().await;
    match overview_request("subscribe_overview", data) {
        Some(err) => {
            let _ = ack.send(&err);
        }
        None => hub.subscribe_overview(&s, ack),
    }
}

async fn on_unsubscribe_overview(
    s: SocketRef,
    turn: Turn,
    TryData(data): TryData<Value>,
    ack: AckSender,
) {
    let _turn = turn.wait().await;
    let reply = overview_request("unsubscribe_overview", data).unwrap_or_else(|| {
        s.leave(super::overview::OVERVIEW_ROOM);
        json!({"ok": true})
    });
    let _ = ack.send(&reply);
}

async fn on_unknown(Event(event): Event, ack: AckSender) {
    let err = ProtoError::new(
        "unknown_event",
        format!(
            "unknown event '{event}'; expected subscribe, unsubscribe, subscribe_bars, unsubscribe_bars, subscribe_overview or unsubscribe_overview"
        ),
    );
    // Without an ack id there is nobody to answer; `send` is then a no-op.
    let _ = ack.send(&err.to_ack());
}

async fn on_disconnect(
    s: SocketRef,
    State(hub): State<Arc<Hub>>,
    State(bars): State<Arc<LiveBars>>,
    reason: DisconnectReason,
) {
    bars.socket_gone(&s);
    tracing::debug!(sid = %s.id, ?reason, "client disconnected");
    if let Some(subs) = s.extensions.get::<Subscriptions>() {
        hub.detach(&subs);
    }
}
