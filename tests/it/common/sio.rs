//! A real Socket.IO v4 client (the `rust_socketio` crate) with the gateway's request/ack and
//! push events turned into a channel the test can wait on.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::FutureExt;
use rust_socketio::{
    Event, Payload, TransportType,
    asynchronous::{Client, ClientBuilder},
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Something the server pushed. An `event_batch` arrives as one `Event` per event, in order
/// (counted in [`Sio::counts`]); a `snapshot_delta` arrives as a `Snapshot` holding `patch`.
#[derive(Debug, Clone)]
pub enum Msg {
    Event(Value),
    Snapshot(Value),
    Reset(Value),
    Bar(Value),
    Overview(Value),
    Closed,
}

/// A connected client.
pub struct Sio {
    pub client: Client,
    /// Event packets received by kind.
    pub counts: Arc<Counts>,
    rx: mpsc::UnboundedReceiver<Msg>,
}

/// How many `event_new` and `event_batch` packets a client received.
#[derive(Debug, Default)]
pub struct Counts {
    pub event_new: AtomicUsize,
    pub event_batch: AtomicUsize,
}

impl Counts {
    /// `(event_new, event_batch)` packets so far.
    pub fn get(&self) -> (usize, usize) {
        (
            self.event_new.load(Ordering::SeqCst),
            self.event_batch.load(Ordering::SeqCst),
        )
    }
}

/// How a test client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads everything (websocket).
    Normal,
    /// Long-polling transport.
    Polling,
    /// Stops reading after the first pushed event (its callback never returns).
    Stall,
}

fn first(p: Payload) -> Value {
    match p {
        Payload::Text(mut v) if !v.is_empty() => v.swap_remove(0),
        _ => Value::Null,
    }
}

impl Sio {
    /// Connects over websocket.
    pub async fn connect(base: &str) -> Self {
        Self::connect_mode(base, Mode::Normal).await
    }

    /// Connects with the given behaviour and waits for the namespace to be joined.
    pub async fn connect_mode(base: &str, mode: Mode) -> Self {
        Self::connect_as(base, mode, None).await
    }

    /// Like [`Sio::connect_mode`], sending `X-Forwarded-For: forwarded_for` (a load balancer
    /// that trusts it hashes on that address).
    pub async fn connect_as(base: &str, mode: Mode, forwarded_for: Option<&str>) -> Self {
        Self::try_connect_as(base, mode, forwarded_for)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Connects with `auth` as the handshake's auth payload (`{"token": ..}`).
    pub async fn connect_with(base: &str, mode: Mode, auth: Option<Value>) -> Self {
        Self::try_connect_opts(base, mode, None, auth)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Sio::connect_as`] that reports a failed connection instead of panicking.
    pub async fn try_connect_as(
        base: &str,
        mode: Mode,
        forwarded_for: Option<&str>,
    ) -> Result<Self, String> {
        Self::try_connect_opts(base, mode, forwarded_for, None).await
    }

    /// Connects with an optional `X-Forwarded-For` and handshake auth payload.
    pub async fn try_connect_opts(
        base: &str,
        mode: Mode,
        forwarded_for: Option<&str>,
        auth: Option<Value>,
    ) -> Result<Self, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (conn_tx, conn_rx) = oneshot::channel::<()>();
        let conn_tx = Arc::new(Mutex::new(Some(conn_tx)));
        let (t1, t2, t3, t4, t5, t6, t7) = (
            tx.clone(),
            tx.clone(),
            tx.clone(),
            tx.clone(),
            tx.clone(),
            tx.clone(),
            tx,
        );
        let stall = mode == Mode::Stall;
        let counts = Arc::new(Counts::default());
        let (c1, c2) = (counts.clone(), counts.clone());
        let (t_batch, t_delta) = (t1.clone(), t2.clone());
        let mut builder = ClientBuilder::new(base);
        if let Some(auth) = auth {
            builder = builder.auth(auth);
        }
        if let Some(addr) = forwarded_for {
            builder = builder.opening_header("X-Forwarded-For", addr);
        }
        let builder = builder
            .namespace("/")
            .reconnect(false)
            .transport_type(if mode == Mode::Polling {
                TransportType::Polling
            } else {
                TransportType::Websocket
            })
            .on(Event::Connect, move |_, _| {
                let c = conn_tx.clone();
                async move {
                    if let Some(tx) = c.lock().ok().and_then(|mut g| g.take()) {
                        let _ = tx.send(());
                    }
                }
                .boxed()
            })
            .on("event_new", move |p, _| {
                let tx = t1.clone();
                c1.event_new.fetch_add(1, Ordering::SeqCst);
                async move {
                    let _ = tx.send(Msg::Event(first(p)));
                    if stall {
                        // A client that stops reading: block the receive loop forever.
                        std::future::pending::<()>().await;
                    }
                }
                .boxed()
            })
            .on("event_batch", move |p, _| {
                let tx = t_batch.clone();
                c2.event_batch.fetch_add(1, Ordering::SeqCst);
                async move {
                    let batch = first(p);
                    for e in batch["events"].as_array().cloned().unwrap_or_default() {
                        let _ = tx.send(Msg::Event(e));
                    }
                    if stall {
                        std::future::pending::<()>().await;
                    }
                }
                .boxed()
            })
            .on("snapshot_delta", move |p, _| {
                let tx = t_delta.clone();
                async move {
                    let _ = tx.send(Msg::Snapshot(first(p)));
                }
                .boxed()
            })
            .on("snapshot_update", move |p, _| {
                let tx = t2.clone();
                async move {
                    let _ = tx.send(Msg::Snapshot(first(p)));
                }
                .boxed()
            })
            .on("stream_reset", move |p, _| {
                let tx = t4.clone();
                async move {
                    let _ = tx.send(Msg::Reset(first(p)));
                }
                .boxed()
            })
            .on("bar_update", move |p, _| {
                let tx = t6.clone();
                async move {
                    let _ = tx.send(Msg::Bar(first(p)));
                }
                .boxed()
            })
            .on("overview_update", move |p, _| {
                let tx = t7.clone();
                async move {
                    let _ = tx.send(Msg::Overview(first(p)));
                }
                .boxed()
            })
            .on(Event::Close, move |_, _| {
                let tx = t3.clone();
                async move {
                    let _ = tx.send(Msg::Closed);
                }
                .boxed()
            })
            // A connection cut without a Socket.IO disconnect (server killed, proxy closed it)
            // only shows up as a transport error.
            .on(Event::Error, move |_, _| {
                let tx = t5.clone();
                async move {
                    let _ = tx.send(Msg::Closed);
                }
                .boxed()
            });
        let client = builder
            .connect()
            .await
            .map_err(|e| format!("socket.io connect: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(10), conn_rx).await {
            Ok(Ok(())) => Ok(Self { client, counts, rx }),
            _ => {
                let _ = client.disconnect().await;
                Err("namespace connect within 10 s".into())
            }
        }
    }

    /// Emits `event` with `payload` and returns the ack's first argument.
    pub async fn request(&self, event: &str, payload: Value) -> Value {
        let rx = self.send(event, payload).await;
        tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .expect("ack within 20 s")
            .expect("ack value")
    }

    /// [`Sio::request`] that returns `None` when the emit fails or no ack comes in 20 s.
    pub async fn try_request(&self, event: &str, payload: Value) -> Option<Value> {
        self.try_request_within(event, payload, Duration::from_secs(20))
            .await
    }

    /// Whether the connection still answers: an unknown event gets an error ack within 2 s.
    /// (rust_socketio reports a transport closed cleanly by the server with no event at all.)
    pub async fn alive(&self) -> bool {
        self.try_request_within("ping", Value::Null, Duration::from_secs(2))
            .await
            .is_some()
    }

    async fn try_request_within(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Option<Value> {
        let rx = self.try_send(event, payload, timeout).await?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    /// Emits `event` without waiting for its ack (requests can be pipelined); the receiver
    /// yields the ack's first argument.
    pub async fn send(&self, event: &str, payload: Value) -> oneshot::Receiver<Value> {
        self.try_send(event, payload, Duration::from_secs(20))
            .await
            .expect("emit")
    }

    /// [`Sio::send`] that returns `None` when the emit fails (connection gone).
    async fn try_send(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Option<oneshot::Receiver<Value>> {
        let (tx, rx) = oneshot::channel::<Value>();
        let tx = Arc::new(Mutex::new(Some(tx)));
        self.client
            .emit_with_ack(event, payload, timeout, move |p, _| {
                let tx = tx.clone();
                async move {
                    if let Some(tx) = tx.lock().ok().and_then(|mut g| g.take()) {
                        // rust_socketio hands the ack's argument list over as one array.
                        let v = match first(p) {
                            Value::Array(mut args) if args.len() == 1 => args.swap_remove(0),
                            other => other,
                        };
                        let _ = tx.send(v);
                    }
                }
                .boxed()
            })
            .await
            .ok()?;
        Some(rx)
    }

    /// `subscribe` request.
    pub async fn subscribe(&self, payload: Value) -> Value {
        self.request("subscribe", payload).await
    }

    /// The next pushed message, if one arrives within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Msg> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Collects pushed events until `done(events)` holds; panics after `timeout`.
    pub async fn events_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::new();
        while !done(&out) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(Msg::Event(e))) => out.push(e),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!(
                    "timed out after {timeout:?} with {} events (last seq {:?})",
                    out.len(),
                    out.last().map(|e| &e["seq"])
                ),
            }
        }
        out
    }

    /// Snapshot updates received so far (drains the queue, keeping events out of it).
    pub fn drain(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            out.push(m);
        }
        out
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// The `seq` of an event JSON.
pub fn seq(e: &Value) -> i64 {
    e["seq"].as_i64().expect("event has an integer seq")
}
