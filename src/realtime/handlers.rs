//! Socket.IO event handlers. Every request gets an ack: `{ok:true,..}` or
//! `{ok:false, error:{code, message}}`; nothing is dropped silently and nothing panics.

use std::sync::Arc;

use serde_json::{Value, json};
use socketioxide::{
    extract::{AckSender, SocketRef, TryData},
    socket::DisconnectReason,
};

use super::{
    hub::{Hub, Subscriptions},
    protocol::{self, ProtoError},
};

/// Sets up per-socket state and the event handlers.
pub fn on_connect(socket: SocketRef, hub: Arc<Hub>) {
    tracing::debug!(sid = %socket.id, transport = ?socket.transport_type(), "client connected");
    socket.extensions.insert(Subscriptions::default());

    let h = hub.clone();
    socket.on(
        "subscribe",
        async move |s: SocketRef, data: TryData<Value>, ack: AckSender| {
            let subs = s.extensions.get::<Subscriptions>().unwrap_or_default();
            let req = match data.0 {
                Ok(v) => protocol::parse_subscribe(&v, h.limits().max_symbols),
                Err(e) => Err(ProtoError::new(
                    "invalid_request",
                    format!("subscribe payload is not valid JSON: {e}"),
                )),
            };
            match req {
                Ok(req) => {
                    let variant = req.variant.clone();
                    match h.subscribe(&s, &subs, req, ack).await {
                        Ok(()) => tracing::debug!(sid = %s.id, %variant, "subscribed"),
                        Err(e) => tracing::debug!(sid = %s.id, %variant, code = e.code, "subscribe refused"),
                    }
                }
                Err(err) => {
                    let _ = ack.send(&err.to_ack());
                }
            }
        },
    );

    let h = hub;
    socket.on(
        "unsubscribe",
        async move |s: SocketRef, data: TryData<Value>, ack: AckSender| {
            let subs = s.extensions.get::<Subscriptions>().unwrap_or_default();
            let reply = match data.0.map_err(|e| e.to_string()) {
                Ok(v) => match protocol::parse_unsubscribe(&v) {
                    Ok(variant) => {
                        h.unsubscribe(&s, &subs, variant.as_str());
                        json!({"ok": true})
                    }
                    Err(e) => e.to_ack(),
                },
                Err(e) => ProtoError::new(
                    "invalid_request",
                    format!("unsubscribe payload is not valid JSON: {e}"),
                )
                .to_ack(),
            };
            let _ = ack.send(&reply);
        },
    );

    socket.on_disconnect(async |s: SocketRef, reason: DisconnectReason| {
        tracing::debug!(sid = %s.id, ?reason, "client disconnected");
    });
}
