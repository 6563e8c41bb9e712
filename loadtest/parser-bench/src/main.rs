//! socketioxide's MessagePack parser against its JSON ("common") parser, on signalgate's messages.
//!
//! Per delivery (per socket, per message) socketioxide 0.18.9 runs `Socket::emit`:
//! `parser.encode_value(data, Some(event))`, `Packet::event("/", value)`, `parser.encode(packet)`
//! (`socketioxide-0.18.9/src/socket.rs` lines 491-514 and 114-121); engineioxide's websocket
//! writer then turns a text value into the Engine.IO string `"4" + packet` (a fresh `String`)
//! and hands a binary value over as it is (`engineioxide-0.17.9/src/transport/ws.rs` 280-300).
//! This program runs exactly that chain for both parsers, and for the gateway's real inputs:
//!
//! * JSON: the gateway holds every event and snapshot as pre-serialised JSON text
//!   (`Box<RawValue>`), which the common parser copies into the packet.
//! * MessagePack: a `RawValue` cannot pass through rmp-serde (it serialises as a map
//!   `{"$serde_json::private::RawValue": "<the JSON text>"}`, checked below), so the gateway
//!   would transcode each message once (JSON text to `serde_json::Value` or `rmpv::Value`) and
//!   hand that tree to every socket's `emit`, which re-serialises it per socket.
//!
//! It prints, per message: the per-delivery encode time (median of repetitions), the one-off
//! transcode time, and the websocket payload and frame sizes. Run with `--release`.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide_core::{Value, packet::Packet, parser::Parse};
use socketioxide_parser_common::CommonParser;
use socketioxide_parser_msgpack::MsgPackParser;

/// Repetitions per measurement (the median is reported).
const REPS: usize = 7;
/// Target wall time of one repetition.
const REP_TIME: Duration = Duration::from_millis(250);

/// The `event_batch` payload, as the gateway's `EventBatchMsg` (`src/realtime/fanout.rs`).
#[derive(Serialize)]
struct EventBatchMsg<'a, E: Serialize> {
    variant: &'a str,
    events: &'a [E],
}

/// One deterministic event, as `Event`'s `Serialize` writes it (`src/domain/model.rs`).
fn event_json(i: u64) -> String {
    let minute = i % 60;
    let sides = ["long", "short", "flat"];
    let side = sides[(i % 3) as usize];
    let price = 3521.5 + (i % 40) as f64 * 0.5;
    format!(
        concat!(
            r#"{{"id":{id},"seq":{seq},"variant":"trend_follow_v1","instance_id":"inst-7","#,
            r#""vt_symbol":"rb2501.SHFE","bar_dt":"2026-12-04T09:{m:02}:00.000000Z","#,
            r#""event_type":"signal","#,
            r#""event_key":"signal:trend_follow_v1:inst-7:SHFE.rb2501:2026-12-04T09:{m:02}:00Z:{side}","#,
            r#""created_at":"2026-12-04T09:{m:02}:00.123456Z","#,
            r#""payload":{{"side":"{side}","price":{price},"qty":{qty},"reason":"td9","#,
            r#""indicators":{{"ma5":{ma5},"ma20":{ma20},"rsi":{rsi}}}}}}}"#
        ),
        id = 9_800_000 + i,
        seq = 123_456 + i,
        m = minute,
        side = side,
        price = price,
        qty = 1 + i % 5,
        ma5 = price - 2.3,
        ma20 = price - 18.7,
        rsi = 40.0 + (i % 50) as f64 * 0.7,
    )
}

/// A snapshot document (`Snapshot`'s `Serialize`) whose payload is `{"instruments": {..}}` with
/// `n` instruments; `wide` gives each six fields, otherwise the load generator's `{price, qty}`
/// book (`loadtest/src/writer/sql.rs`, the 17,314-byte frames of BENCHMARKS.md's issue 20).
fn snapshot_json(n: u64, wide: bool) -> String {
    let mut out = String::from(concat!(
        r#"{"variant":"trend_follow_v1","instance_id":"inst-7","version":88231,"#,
        r#""updated_at":"2026-12-04T09:31:00.456789Z","bar_dt":"2026-12-04T09:31:00.000000Z","#,
        r#""bar_interval":"1m","bar_window":1,"payload":{"writer":0,"instruments":{"#
    ));
    for i in 0..n {
        let sep = if i == 0 { "" } else { "," };
        if wide {
            let last = 1000.0 + (i * 37 % 4000) as f64 + 0.5;
            let sig = ["long", "short", "flat"][(i % 3) as usize];
            out.push_str(&format!(
                r#"{sep}"SYM{i:03}.SHFE":{{"last":{last},"pos":{pos},"avg":{avg},"pnl":{pnl},"signal":"{sig}","light":{light}}}"#,
                pos = (i % 7) as i64 - 3,
                avg = last - 1.25,
                pnl = (i % 13) as f64 * 12.5 - 50.0,
                light = i % 4,
            ));
        } else {
            out.push_str(&format!(
                r#"{sep}"SYM{i:03}.EX":{{"price":{price},"qty":{i}}}"#,
                price = 9000 + i / 5
            ));
        }
    }
    out.push_str("}}}");
    out
}

/// One message of the benchmark: its event name and the payload in each input form.
struct Message {
    name: &'static str,
    event: &'static str,
    /// JSON text of the whole payload (for sizes and the transcode).
    json: String,
    /// Today's per-socket input.
    raw: Input<Box<RawValue>>,
    /// MessagePack inputs (built once per message, like a transcode at publish time).
    value: Input<serde_json::Value>,
    rmpv: Input<rmpv::Value>,
    /// Transcode cost: how many JSON documents are parsed for this message (events of a batch).
    parts: Vec<String>,
}

/// A payload as one document, or as an `event_batch` of documents.
enum Input<T> {
    One(T),
    Batch(Vec<T>),
}

impl<T: Serialize> Input<T> {
    /// `Socket::emit(event, &payload)` for one socket, up to the websocket payload.
    fn deliver<P: Parse>(&self, parser: P, event: &str) -> Frame {
        let value = self.encode_value(parser, event);
        frame(parser.encode(Packet::event("/", value)))
    }

    /// `parser.encode_value(&payload, Some(event))`.
    fn encode_value<P: Parse>(&self, parser: P, event: &str) -> Value {
        match self {
            Input::One(v) => parser.encode_value(v, Some(event)),
            Input::Batch(events) => parser.encode_value(
                &EventBatchMsg {
                    variant: "trend_follow_v1",
                    events,
                },
                Some(event),
            ),
        }
        .expect("encode_value")
    }
}

/// What engineioxide's websocket writer sends for an encoded packet.
enum Frame {
    /// A text frame: `"4"` + packet, a new `String` (`From<engineioxide_core::Packet>`).
    Text(String),
    /// A binary frame: the bytes as they are (Engine.IO v4).
    Binary(Bytes),
}

impl Frame {
    /// The websocket payload.
    fn payload(&self) -> &[u8] {
        match self {
            Frame::Text(s) => s.as_bytes(),
            Frame::Binary(b) => b,
        }
    }
}

/// The Engine.IO step of engineioxide's websocket writer.
fn frame(value: Value) -> Frame {
    match value {
        Value::Str(s, None) => Frame::Text(String::from(engineioxide_core::Packet::Message(s))),
        Value::Bytes(b) => Frame::Binary(b),
        Value::Str(_, Some(_)) => unreachable!("no binary attachments here"),
    }
}

/// Websocket frame header of an unmasked server frame with `len` payload bytes.
fn ws_header(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// Median nanoseconds per call of `f` over [`REPS`] repetitions of about [`REP_TIME`] each,
/// after a warm-up that also sizes the repetitions.
fn measure(label: &str, mut f: impl FnMut() -> usize) -> f64 {
    let mut sink = 0usize;
    let start = Instant::now();
    let mut warm = 0u64;
    while start.elapsed() < REP_TIME / 2 {
        sink = sink.wrapping_add(black_box(f()));
        warm += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / warm as f64;
    let iters = ((REP_TIME.as_secs_f64() / per_call) as u64).clamp(200, 2_000_000);
    let mut ns: Vec<f64> = (0..REPS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                sink = sink.wrapping_add(black_box(f()));
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    black_box(sink);
    ns.sort_by(f64::total_cmp);
    let median = ns[REPS / 2];
    eprintln!(
        "  {label}: median {} (min {}, max {}; {REPS} x {iters} iterations)",
        fmt_ns(median),
        fmt_ns(ns[0]),
        fmt_ns(ns[REPS - 1])
    );
    median
}

/// `1234 ns` or `12.3 µs`.
fn fmt_ns(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{:.1} µs", ns / 1000.0)
    }
}

/// `1,234`.
fn fmt_int(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Message {
    /// A message from the JSON text of its parts (one document, or the events of a batch).
    fn new(name: &'static str, event: &'static str, parts: Vec<String>, batch: bool) -> Self {
        let raw: Vec<Box<RawValue>> = parts
            .iter()
            .map(|p| RawValue::from_string(p.clone()).expect("json"))
            .collect();
        let value: Vec<serde_json::Value> = parts
            .iter()
            .map(|p| serde_json::from_str(p).expect("json"))
            .collect();
        let rmpv: Vec<rmpv::Value> = parts
            .iter()
            .map(|p| serde_json::from_str(p).expect("json"))
            .collect();
        fn wrap<T>(mut v: Vec<T>, batch: bool) -> Input<T> {
            if batch {
                Input::Batch(v)
            } else {
                Input::One(v.remove(0))
            }
        }
        let json = if batch {
            serde_json::to_string(&EventBatchMsg {
                variant: "trend_follow_v1",
                events: &raw,
            })
            .expect("json")
        } else {
            parts[0].clone()
        };
        Self {
            name,
            event,
            json,
            raw: wrap(raw, batch),
            value: wrap(value, batch),
            rmpv: wrap(rmpv, batch),
            parts,
        }
    }

    /// Checks that every MessagePack frame carries the same `[event, payload]` as the JSON
    /// frame; returns the sizes (JSON payload, msgpack payload).
    fn check(&self) -> (usize, usize) {
        let Frame::Text(text) = self.raw.deliver(CommonParser, self.event) else {
            panic!("JSON gives a text frame");
        };
        let body = text
            .strip_prefix("42")
            .expect("Engine.IO message + Socket.IO event");
        let from_json: serde_json::Value = serde_json::from_str(body).expect("json packet");
        let mut sizes = Vec::new();
        for frame in [
            self.value.deliver(MsgPackParser, self.event),
            self.rmpv.deliver(MsgPackParser, self.event),
        ] {
            let Frame::Binary(bin) = &frame else {
                panic!("msgpack gives a binary frame");
            };
            let packet = rmpv::decode::read_value(&mut &bin[..]).expect("msgpack packet");
            let packet: serde_json::Value = serde_json::to_value(&packet).expect("to json");
            assert_eq!(packet["type"], 2, "{}: EVENT packet", self.name);
            assert_eq!(packet["nsp"], "/", "{}: namespace", self.name);
            assert_eq!(
                packet["data"], from_json,
                "{}: same data as JSON",
                self.name
            );
            sizes.push(bin.len());
        }
        assert_eq!(
            sizes[0], sizes[1],
            "{}: both msgpack inputs, same size",
            self.name
        );
        (text.len(), sizes[0])
    }
}

/// One row of the results.
struct Row {
    name: &'static str,
    json_doc: usize,
    json_ws: usize,
    msgpack_ws: usize,
    json_ns: f64,
    value_ns: f64,
    rmpv_ns: f64,
    to_value_ns: f64,
    to_rmpv_ns: f64,
    pre_json_ns: f64,
    pre_msgpack_ns: f64,
}

fn main() {
    let events: Vec<String> = (0..20).map(event_json).collect();
    let messages = [
        Message::new(
            "`event_new` (1 event)",
            "event_new",
            vec![events[0].clone()],
            false,
        ),
        Message::new(
            "`event_batch` (20 events)",
            "event_batch",
            events.clone(),
            true,
        ),
        Message::new(
            "`snapshot_update` (500 instruments × 6 fields)",
            "snapshot_update",
            vec![snapshot_json(500, true)],
            false,
        ),
        Message::new(
            "`snapshot_update` (500 × `{price, qty}`, load generator's book)",
            "snapshot_update",
            vec![snapshot_json(500, false)],
            false,
        ),
    ];

    // What rmp-serde makes of the gateway's RawValue: not the event, a one-key map.
    let raw_event = RawValue::from_string(events[0].clone()).expect("json");
    let Frame::Binary(bin) = frame(
        MsgPackParser.encode(Packet::event(
            "/",
            MsgPackParser
                .encode_value(&raw_event, Some("event_new"))
                .expect("encode_value"),
        )),
    ) else {
        panic!("binary");
    };
    let decoded = rmpv::decode::read_value(&mut &bin[..]).expect("msgpack");
    let shown = serde_json::to_string(&decoded["data"][1]).expect("json");
    eprintln!(
        "RawValue through the msgpack parser: data[1] = {}...",
        &shown[..shown.len().min(90)]
    );

    let mut rows = Vec::new();
    for m in &messages {
        let (json_ws, msgpack_ws) = m.check();
        eprintln!(
            "{}: JSON document {} B, websocket payload JSON {} B / msgpack {} B",
            m.name,
            m.json.len(),
            json_ws,
            msgpack_ws
        );
        let json_ns = measure("JSON, RawValue (today)", || {
            m.raw.deliver(CommonParser, m.event).payload().len()
        });
        let value_ns = measure("msgpack, serde_json::Value", || {
            m.value.deliver(MsgPackParser, m.event).payload().len()
        });
        let rmpv_ns = measure("msgpack, rmpv::Value", || {
            m.rmpv.deliver(MsgPackParser, m.event).payload().len()
        });
        let to_value_ns = measure("transcode JSON text -> serde_json::Value (once)", || {
            m.parts
                .iter()
                .map(|p| match serde_json::from_str::<serde_json::Value>(p) {
                    Ok(serde_json::Value::Object(o)) => o.len(),
                    _ => 0,
                })
                .sum()
        });
        let to_rmpv_ns = measure("transcode JSON text -> rmpv::Value (once)", || {
            m.parts
                .iter()
                .map(|p| match serde_json::from_str::<rmpv::Value>(p) {
                    Ok(rmpv::Value::Map(o)) => o.len(),
                    _ => 0,
                })
                .sum()
        });
        // Upper bound if socketioxide took pre-encoded data per socket (it does not: `Socket::emit`
        // always calls `encode_value`; `send_raw` is crate-private): only `encode` + framing.
        let json_pre = m.raw.encode_value(CommonParser, m.event);
        let pre_json_ns = measure(
            "pre-encoded JSON value, per socket encode only (hypothetical)",
            || {
                frame(CommonParser.encode(Packet::event("/", json_pre.clone())))
                    .payload()
                    .len()
            },
        );
        let msgpack_pre = m.value.encode_value(MsgPackParser, m.event);
        let pre_msgpack_ns = measure(
            "pre-encoded msgpack value, per socket encode only (hypothetical)",
            || {
                frame(MsgPackParser.encode(Packet::event("/", msgpack_pre.clone())))
                    .payload()
                    .len()
            },
        );
        rows.push(Row {
            pre_json_ns,
            pre_msgpack_ns,
            name: m.name,
            json_doc: m.json.len(),
            json_ws,
            msgpack_ws,
            json_ns,
            value_ns,
            rmpv_ns,
            to_value_ns,
            to_rmpv_ns,
        });
    }

    println!(
        "\nBytes on the wire (websocket payload: JSON a text frame `4` + packet, msgpack a binary frame):\n"
    );
    println!(
        "| message | JSON document | ws payload JSON | ws payload msgpack | msgpack ÷ JSON | ws frame JSON / msgpack |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.0}% | {} / {} |",
            r.name,
            fmt_int(r.json_doc),
            fmt_int(r.json_ws),
            fmt_int(r.msgpack_ws),
            100.0 * r.msgpack_ws as f64 / r.json_ws as f64,
            fmt_int(r.json_ws + ws_header(r.json_ws)),
            fmt_int(r.msgpack_ws + ws_header(r.msgpack_ws)),
        );
    }
    println!(
        "\nCPU per delivery (per socket per message: encode_value + Packet::event + encode + Engine.IO frame), \
         median of {REPS} repetitions; transcode = once per message, shared by all sockets:\n"
    );
    println!(
        "| message | JSON, RawValue (today) | msgpack, serde_json::Value | msgpack, rmpv::Value | msgpack ÷ JSON \
         | transcode once → serde_json::Value / → rmpv::Value | pre-encoded, hypothetical: JSON / msgpack |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let best = r.value_ns.min(r.rmpv_ns);
        println!(
            "| {} | {} | {} | {} | {:.1}× | {} / {} | {} / {} |",
            r.name,
            fmt_ns(r.json_ns),
            fmt_ns(r.value_ns),
            fmt_ns(r.rmpv_ns),
            best / r.json_ns,
            fmt_ns(r.to_value_ns),
            fmt_ns(r.to_rmpv_ns),
            fmt_ns(r.pre_json_ns),
            fmt_ns(r.pre_msgpack_ns),
        );
    }
}
