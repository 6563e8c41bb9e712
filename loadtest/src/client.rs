//! One subscribed client: its receive loop and its counters.
//!
//! A client follows one variant. Each event's `n` (from its payload) is set in a bitset, so a
//! second copy counts as a duplicate and a committed `n` never set counts as lost. Latency is
//! receipt time minus the writer's commit marker from the [`Ledger`]. With `reconnect`, a dropped
//! connection is re-established every 100 ms (about what socket.io-client does, minus its
//! randomised back-off) and resubscribed with `since_seq` = the last seq seen; events replayed
//! in the ack count like live ones.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    ledger::Ledger,
    now_us,
    sio::{self, Protocol, Push, Ws},
};

/// Largest latency the histograms hold: 5 minutes, in microseconds.
const MAX_LATENCY_US: u64 = 300_000_000;

/// A latency histogram in microseconds (2 significant digits: 1% resolution, ~22 KB each, created on the first event).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("constant bounds are valid")
}

/// Counters shared by all clients, for progress and the throughput timeline.
#[derive(Default)]
pub struct Totals {
    /// Events received by all clients (duplicates included).
    pub delivered: AtomicU64,
    /// Currently connected clients.
    pub connected: AtomicU64,
    /// Reconnections that succeeded.
    pub reconnects: AtomicU64,
    /// The largest latency (µs) since the sampler last took it (the timeline's spikes).
    pub max_latency_us: AtomicU64,
}

/// One client's result.
#[derive(Debug)]
pub struct ClientStats {
    /// Index of the variant followed.
    pub variant: usize,
    /// Commit → receipt latency, microseconds (`None` until the first event).
    pub latency: Option<Histogram<u64>>,
    /// Bitset over the variant's event numbers `n` received.
    pub received: Vec<u64>,
    /// Events received, duplicates included.
    pub delivered: u64,
    /// Events received a second time.
    pub duplicates: u64,
    /// Events whose `seq` was not above the previous one (servers that send `seq`).
    pub out_of_order: u64,
    /// Frames that looked like events but had no `n`.
    pub unparsed: u64,
    /// `snapshot_update`s and `snapshot_delta`s received.
    pub snapshots: u64,
    /// Bytes of those frames.
    pub snapshot_bytes: u64,
    /// Last `seq` seen (event or ack), for resuming.
    pub last_seq: Option<u64>,
    /// When (µs since the epoch) the latest new event arrived.
    pub last_new_us: u64,
    /// Why the client stopped early, if it did.
    pub error: Option<String>,
}

impl ClientStats {
    fn new(variant: usize) -> Self {
        Self {
            variant,
            latency: None,
            received: Vec::new(),
            delivered: 0,
            duplicates: 0,
            out_of_order: 0,
            unparsed: 0,
            snapshots: 0,
            snapshot_bytes: 0,
            last_seq: None,
            last_new_us: 0,
            error: None,
        }
    }

    /// Distinct events received.
    pub fn distinct(&self) -> u64 {
        self.received
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }

    fn on_event(&mut self, text: &str, ledger: &Ledger, totals: &Totals) {
        let now = now_us();
        self.delivered += 1;
        totals.delivered.fetch_add(1, Ordering::Relaxed);
        if let Some(seq) = sio::field(text, "seq") {
            if self.last_seq.is_some_and(|last| seq <= last) {
                self.out_of_order += 1;
            }
            self.last_seq = Some(seq.max(self.last_seq.unwrap_or(0)));
        }
        let Some(n) = sio::field(text, "n") else {
            self.unparsed += 1;
            return;
        };
        let (word, bit) = ((n / 64) as usize, 1u64 << (n % 64));
        if self.received.len() <= word {
            self.received.resize(word + 1, 0);
        }
        if self.received[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.received[word] |= bit;
        self.last_new_us = now;
        let sent = ledger
            .marker(self.variant, n)
            .or_else(|| sio::field(text, "t_us"));
        if let Some(sent) = sent {
            let us = now.saturating_sub(sent).clamp(1, MAX_LATENCY_US);
            let h = self.latency.get_or_insert_with(histogram);
            let _ = h.record(us);
            totals.max_latency_us.fetch_max(us, Ordering::Relaxed);
        }
    }
}

/// Where and how a client connects.
#[derive(Clone)]
pub struct Target {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Wire protocol.
    pub proto: Protocol,
    /// Extra `subscribe` fields (`{"batch": true}`, ...).
    pub options: serde_json::Value,
}

/// Connects and subscribes one client (the connect ramp calls this one by one).
pub async fn connect(target: &Target, variant: &str) -> anyhow::Result<Ws> {
    let (url, proto, options) = (&target.url, target.proto, &target.options);
    Ok(sio::connect_with(url, proto, variant, None, options)
        .await?
        .0)
}

/// Runs one client until `stop` turns true, then returns its counters.
pub async fn run(
    mut ws: Ws,
    target: Target,
    variant: usize,
    ledger: Arc<Ledger>,
    totals: Arc<Totals>,
    mut stop: watch::Receiver<bool>,
    reconnect: bool,
) -> ClientStats {
    let mut st = ClientStats::new(variant);
    totals.connected.fetch_add(1, Ordering::Relaxed);
    loop {
        let ended = tokio::select! {
            _ = stop.wait_for(|s| *s) => None,
            ended = read(&mut ws, &target, &mut st, &ledger, &totals) => Some(ended),
        };
        totals.connected.fetch_sub(1, Ordering::Relaxed);
        let Some(reason) = ended else { return st };
        if !reconnect {
            st.error = Some(reason);
            return st;
        }
        // Resume: retry until the server is back, from the last seq seen.
        let name = ledger.variants[variant].name.clone();
        loop {
            if *stop.borrow() {
                return st;
            }
            let since = st.last_seq;
            let (url, proto, options) = (&target.url, target.proto, &target.options);
            match sio::connect_with(url, proto, &name, since, options).await {
                Ok((new_ws, ack)) => {
                    ws = new_ws;
                    for e in &ack.events {
                        st.on_event(e, &ledger, &totals);
                    }
                    if ack.truncated {
                        st.error = Some("resume ack truncated (raise --resume-cap)".into());
                    }
                    if let Some(seq) = ack.seq {
                        st.last_seq = Some(seq.max(st.last_seq.unwrap_or(0)));
                    }
                    totals.reconnects.fetch_add(1, Ordering::Relaxed);
                    totals.connected.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// Reads frames until the connection ends; returns why.
async fn read(
    ws: &mut Ws,
    target: &Target,
    st: &mut ClientStats,
    ledger: &Ledger,
    totals: &Totals,
) -> String {
    while let Some(msg) = ws.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => return "closed by the server".into(),
            Ok(_) => continue,
            Err(e) => return format!("websocket error: {e}"),
        };
        match sio::classify(target.proto, text.as_str()) {
            Push::Event(t) => st.on_event(t, ledger, totals),
            Push::Batch(t) => match sio::batch_events(t) {
                Ok(events) => events
                    .iter()
                    .for_each(|e| st.on_event(e.get(), ledger, totals)),
                Err(_) => st.unparsed += 1,
            },
            Push::Snapshot => {
                st.snapshots += 1;
                st.snapshot_bytes += text.len() as u64;
            }
            Push::Ping => {
                if let Err(e) = ws.send(Message::text("3")).await {
                    return format!("pong failed: {e}");
                }
            }
            Push::Closed => return "disconnected by the server".into(),
            Push::Other => {}
        }
    }
    "connection ended".into()
}
