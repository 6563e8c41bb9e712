//! A bare Engine.IO 4 / Socket.IO 5 websocket client: lets a test pipeline requests, read the
//! raw acks in the order the server sent them, and see a refused handshake's `connect_error`.

use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

/// How long a read waits before the connection counts as silent.
const LONG: Duration = Duration::from_secs(60);

/// A connected raw client.
pub struct RawSocket(WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>);

impl RawSocket {
    /// Connects to the `/` namespace without auth data.
    pub async fn connect(base: &str) -> Self {
        match Self::connect_auth(base, None).await {
            Ok(raw) => raw,
            Err(refused) => panic!("socket.io connect refused: {refused}"),
        }
    }

    /// Connects with `auth` as the handshake's auth payload; `Err` holds the `connect_error`
    /// payload when the server refuses the namespace.
    pub async fn connect_auth(base: &str, auth: Option<Value>) -> Result<Self, Value> {
        Self::connect_from(base, None, auth).await
    }

    /// [`RawSocket::connect_auth`] from a page at `origin` (the `Origin` header).
    pub async fn connect_from(
        base: &str,
        origin: Option<&str>,
        auth: Option<Value>,
    ) -> Result<Self, Value> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.replacen("http", "ws", 1)
        );
        let mut req = url.into_client_request().expect("request");
        if let Some(o) = origin {
            req.headers_mut()
                .insert("origin", o.parse().expect("origin header"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket");
        let mut raw = Self(ws);
        let open = raw.recv().await.expect("engine.io open");
        assert!(open.starts_with('0'), "{open}");
        raw.send(format!(
            "40{}",
            auth.map_or(String::new(), |a| a.to_string())
        ))
        .await;
        let reply = raw.recv().await.expect("socket.io connect reply");
        if let Some(err) = reply.strip_prefix("44") {
            return Err(serde_json::from_str(err).expect("connect_error json"));
        }
        assert!(reply.starts_with("40"), "{reply}");
        Ok(raw)
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: String) {
        assert!(self.try_send(text).await, "send");
    }

    /// Sends, reporting whether the connection took it (the server may close it mid-send).
    pub async fn try_send(&mut self, text: String) -> bool {
        use futures::SinkExt;
        self.0.send(Message::Text(text.into())).await.is_ok()
    }

    /// The next text frame, answering pings; `None` when the connection ends.
    pub async fn recv(&mut self) -> Option<String> {
        use futures::StreamExt;
        loop {
            let msg = tokio::time::timeout(LONG, self.0.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) if t.as_str() == "2" => {
                    // A pong may find the connection already closed by the server.
                    self.try_send("3".into()).await;
                }
                Message::Text(t) => return Some(t.to_string()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Emits `event` with `payload` and ack id `id`, and returns the ack's first argument.
    pub async fn request(&mut self, id: u32, event: &str, payload: Value) -> Value {
        self.send(format!("42{id}{}", serde_json::json!([event, payload])))
            .await;
        let prefix = format!("43{id}");
        loop {
            let frame = self.recv().await.expect("ack");
            if let Some(rest) = frame.strip_prefix(&prefix) {
                let args: Value = serde_json::from_str(rest).expect("ack json");
                return args[0].clone();
            }
        }
    }
}
