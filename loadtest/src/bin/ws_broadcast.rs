//! `ws-broadcast`: the raw WebSocket baseline peer — no Socket.IO framing, no database, written
//! the way a naive broadcast server usually is: one tokio `broadcast` channel per variant and one
//! task per client that forwards every message with its own write and flush.
//!
//! - `ws://HOST/ws?variant=V`: subscribe; the server sends `{"ok":true}`, then each event's JSON.
//! - `ws://HOST/publish`: every text frame is broadcast to the subscribers of its `"variant"`.
//!
//! A client that falls more than [`CHANNEL`] messages behind skips what it missed (the channel
//! reports `Lagged`); the load generator counts those as lost.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use tokio::{net::TcpListener, sync::broadcast};
use tokio_tungstenite::tungstenite::{
    Message, Utf8Bytes,
    handshake::server::{Request, Response},
};

/// Messages buffered per variant before a slow subscriber lags (as signalgate's socket buffer).
const CHANNEL: usize = 1024;

#[derive(Parser)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: String,
}

type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<Utf8Bytes>>>>;

fn room(rooms: &Rooms, variant: &str) -> broadcast::Sender<Utf8Bytes> {
    let mut r = rooms.lock().unwrap_or_else(|p| p.into_inner());
    r.entry(variant.to_owned())
        .or_insert_with(|| broadcast::channel(CHANNEL).0)
        .clone()
}

/// The `"variant":"…"` value of an event.
fn variant_of(text: &str) -> Option<&str> {
    let rest = &text[text.find(r#""variant":""#)? + 11..];
    Some(&rest[..rest.find('"')?])
}

// The callback's error type is tungstenite's; it is never returned here.
#[allow(clippy::result_large_err)]
async fn serve(stream: tokio::net::TcpStream, rooms: Rooms) -> anyhow::Result<()> {
    let mut path = String::new();
    let mut ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        path = req.uri().to_string();
        Ok(resp)
    })
    .await?;
    if path.starts_with("/publish") {
        while let Some(msg) = ws.next().await {
            if let Message::Text(t) = msg?
                && let Some(v) = variant_of(t.as_str())
            {
                let _ = room(&rooms, v).send(t.clone());
            }
        }
        return Ok(());
    }
    let variant = path
        .split_once("variant=")
        .map(|(_, v)| v.split('&').next().unwrap_or(v).to_owned())
        .unwrap_or_default();
    let mut rx = room(&rooms, &variant).subscribe();
    ws.send(Message::text(r#"{"ok":true}"#)).await?;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Ok(text) => ws.send(Message::Text(text)).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => eprintln!("subscriber lagged, skipped {n}"),
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            m = ws.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = TcpListener::bind(&cli.listen).await?;
    eprintln!("ws-broadcast listening on {}", listener.local_addr()?);
    let rooms: Rooms = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let rooms = rooms.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, rooms).await {
                eprintln!("connection ended: {e}");
            }
        });
    }
}
