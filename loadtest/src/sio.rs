//! A lean websocket client: just enough Engine.IO 4 / Socket.IO 5 to join namespace `/`,
//! `subscribe` with an ack, answer pings and read `event_new` / `snapshot_update` pushes, so the
//! measurements describe the server rather than a heavy client. The raw protocol (the
//! `ws-broadcast` peer) has no framing at all: the server sends one `{"ok":true}` frame once the
//! subscription is registered, then bare event JSON.
//!
//! Hot-path parsing does not build a JSON tree: [`field`] finds `"name":<digits>` in the frame.
//! `tests/interop.rs` checks against a real gateway that this client and the official
//! `rust_socketio` client see the same events.

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::{connect_async, tungstenite::Message};

/// A websocket to the server under test.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Which wire protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Protocol {
    /// Socket.IO v4 (Engine.IO 4) over a websocket: signalgate, Node socket.io, Flask-SocketIO.
    SocketIo,
    /// Plain websocket text frames carrying event JSON (`ws-broadcast`).
    Raw,
}

/// One frame from the server, classified.
#[derive(Debug, PartialEq, Eq)]
pub enum Push<'a> {
    /// An event; the text is the whole frame.
    Event(&'a str),
    /// An `event_batch`; the text is the whole frame (see [`batch_events`]).
    Batch(&'a str),
    /// A snapshot update or delta.
    Snapshot,
    /// An Engine.IO ping (answer with a pong).
    Ping,
    /// The server closed the namespace or the socket.
    Closed,
    /// Anything else (acks of other requests, unknown events).
    Other,
}

/// Classifies a text frame.
pub fn classify(proto: Protocol, text: &str) -> Push<'_> {
    match proto {
        Protocol::Raw => {
            if text.contains("\"n\"") {
                Push::Event(text)
            } else {
                Push::Other
            }
        }
        Protocol::SocketIo => {
            if text == "2" {
                Push::Ping
            } else if text.starts_with(r#"42["event_new""#) {
                Push::Event(text)
            } else if text.starts_with(r#"42["event_batch""#) {
                Push::Batch(text)
            } else if text.starts_with(r#"42["snapshot_update""#)
                || text.starts_with(r#"42["snapshot_delta""#)
            {
                Push::Snapshot
            } else if text.starts_with("41") || text == "1" {
                Push::Closed
            } else {
                Push::Other
            }
        }
    }
}

/// The events of an `event_batch` frame, as JSON text each.
pub fn batch_events(frame: &str) -> anyhow::Result<Vec<Box<serde_json::value::RawValue>>> {
    #[derive(serde::Deserialize)]
    struct Batch {
        events: Vec<Box<serde_json::value::RawValue>>,
    }
    let (_, batch): (String, Batch) =
        serde_json::from_str(frame.get(2..).unwrap_or_default()).context("event_batch frame")?;
    Ok(batch.events)
}

/// The first unsigned integer after `"name":` (whitespace allowed: PostgreSQL's JSONB re-renders
/// payloads with a space after the colon; an escaped `\"name\":` inside a string payload is found
/// too).
pub fn field(text: &str, name: &str) -> Option<u64> {
    let mut rest = text;
    loop {
        let i = rest.find(name)?;
        let quoted = rest[..i].ends_with('"');
        let after = &rest[i + name.len()..];
        let after = after
            .strip_prefix("\\\"")
            .or_else(|| after.strip_prefix('"'))
            .filter(|_| quoted);
        if let Some(after) = after {
            let after = after.trim_start();
            if let Some(value) = after.strip_prefix(':') {
                let digits: &str = {
                    let v = value.trim_start();
                    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
                    &v[..end]
                };
                if let Ok(n) = digits.parse() {
                    return Some(n);
                }
            }
        }
        rest = &rest[i + name.len()..];
    }
}

/// What the server answered to `subscribe`.
#[derive(Debug, Default)]
pub struct Ack {
    /// The variant's position (`ack.seq`), when the server has one.
    pub seq: Option<u64>,
    /// Events replayed in the ack, as JSON text.
    pub events: Vec<String>,
    /// `truncated: true`: more events than the server's resume cap were missed.
    pub truncated: bool,
}

fn ws_url(base: &str, proto: Protocol, variant: &str) -> String {
    let base = base.trim_end_matches('/').replacen("http", "ws", 1);
    match proto {
        Protocol::SocketIo => format!("{base}/socket.io/?EIO=4&transport=websocket"),
        Protocol::Raw => format!("{base}/ws?variant={variant}"),
    }
}

/// Reads text frames until `want` accepts one, answering pings on the way.
async fn until(ws: &mut Ws, what: &str, want: impl Fn(&str) -> bool) -> anyhow::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if want(t.as_str()) => return Ok(t.as_str().to_owned()),
            // Socket.IO servers may ping at once; unanswered pings end the session.
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
            Some(Ok(Message::Close(_))) | None => {
                bail!("connection closed while waiting for {what}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context(format!("waiting for {what}")),
        }
    }
}

/// Opens a websocket, joins namespace `/` and subscribes to `variant` (from `since_seq` when
/// given). Fails when the server answers `ok:false`.
pub async fn connect(
    base: &str,
    proto: Protocol,
    variant: &str,
    since_seq: Option<u64>,
) -> anyhow::Result<(Ws, Ack)> {
    connect_with(base, proto, variant, since_seq, &Value::Null).await
}

/// [`connect`] with extra `subscribe` fields (`options`, an object; others are ignored).
pub async fn connect_with(
    base: &str,
    proto: Protocol,
    variant: &str,
    since_seq: Option<u64>,
    options: &Value,
) -> anyhow::Result<(Ws, Ack)> {
    let (mut ws, _) = connect_async(ws_url(base, proto, variant))
        .await
        .with_context(|| format!("websocket connect to {base}"))?;
    if proto == Protocol::Raw {
        until(&mut ws, "the subscription confirmation", |t| {
            t.contains("\"ok\"")
        })
        .await?;
        return Ok((ws, Ack::default()));
    }
    until(&mut ws, "the Engine.IO open packet", |t| t.starts_with('0')).await?;
    ws.send(Message::text("40")).await?;
    until(&mut ws, "the namespace connect", |t| t.starts_with("40")).await?;
    let mut req = serde_json::json!({ "variant": variant });
    if let Some(s) = since_seq {
        req["since_seq"] = s.into();
    }
    if let Some(o) = options.as_object() {
        for (k, v) in o {
            req[k] = v.clone();
        }
    }
    ws.send(Message::text(format!(r#"421["subscribe",{req}]"#)))
        .await?;
    // Pushes can only follow the ack (the subscription starts with it), so anything before the
    // ack is ignorable.
    let text = until(&mut ws, "the subscribe ack", |t| t.starts_with("431[")).await?;
    let ack = parse_ack(&text["431".len()..])?;
    Ok((ws, ack))
}

/// Parses the ack array `[{"ok":..}]`.
pub fn parse_ack(array: &str) -> anyhow::Result<Ack> {
    let v: Value = serde_json::from_str(array).context("subscribe ack is not JSON")?;
    let body = v.get(0).context("subscribe ack has no argument")?;
    if body.get("ok") != Some(&Value::Bool(true)) {
        bail!("subscribe refused: {body}");
    }
    Ok(Ack {
        seq: body.get("seq").and_then(Value::as_u64),
        events: body
            .get("events")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Value::to_string).collect())
            .unwrap_or_default(),
        truncated: body.get("truncated") == Some(&Value::Bool(true)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_finds_plain_spaced_and_escaped_numbers() {
        let f = r#"42["event_new",{"id":9,"seq":7,"payload":{"n": 12,"t_us":34}}]"#;
        assert_eq!(field(f, "seq"), Some(7));
        assert_eq!(field(f, "n"), Some(12));
        assert_eq!(field(f, "t_us"), Some(34));
        assert_eq!(field(r#"{"payload":"{\"n\":5}"}"#, "n"), Some(5));
        assert_eq!(field(r#"{"vt_symbol":"n","x":1}"#, "n"), None);
        assert_eq!(field(r#"{"variant":"x"}"#, "seq"), None);
        assert_eq!(field(r#"{"run":3,"n":4}"#, "n"), Some(4));
    }

    #[test]
    fn classify_socket_io_frames() {
        let p = Protocol::SocketIo;
        assert_eq!(classify(p, "2"), Push::Ping);
        assert!(matches!(
            classify(p, r#"42["event_new",{}]"#),
            Push::Event(_)
        ));
        assert_eq!(classify(p, r#"42["snapshot_update",{}]"#), Push::Snapshot);
        assert_eq!(classify(p, r#"42["snapshot_delta",{}]"#), Push::Snapshot);
        let batch =
            r#"42["event_batch",{"variant":"v","events":[{"seq":1,"payload":{"n":3}},{"seq":2}]}]"#;
        assert_eq!(classify(p, batch), Push::Batch(batch));
        let events = batch_events(batch).expect("batch");
        assert_eq!(events.len(), 2);
        assert_eq!(field(events[0].get(), "n"), Some(3));
        assert_eq!(classify(p, "41"), Push::Closed);
        assert_eq!(classify(p, r#"432[{"ok":true}]"#), Push::Other);
    }

    #[test]
    fn acks_parse_and_refusals_fail() {
        let a = parse_ack(r#"[{"ok":true,"seq":5,"events":[{"seq":4}],"truncated":false}]"#)
            .expect("ok ack");
        assert_eq!((a.seq, a.events.len(), a.truncated), (Some(5), 1, false));
        assert!(parse_ack(r#"[{"ok":false,"error":{"code":"busy"}}]"#).is_err());
    }
}
