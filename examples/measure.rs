//! A small measuring tool for the realtime path (the full load generator comes with its own
//! issue). It speaks just enough Engine.IO/Socket.IO v4 over a raw websocket to stay lean, so the
//! numbers describe the gateway rather than a heavy client.
//!
//! ```text
//! # fan-out: N subscribed clients, events committed at a fixed rate, commit → client latency
//! cargo run --release --example measure -- fanout --url http://127.0.0.1:3000 \
//!     --database-url mysql://root@127.0.0.1:3306/bench --clients 1000 --rate 200 --seconds 20
//! # idle memory: N idle subscribed connections, gateway RSS delta per connection
//! cargo run --release --example measure -- idle --url http://127.0.0.1:3000 --clients 10000 --pid 1234
//! ```

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{SinkExt, StreamExt};
use signalgate::store::{self, NewEvent, PoolOptions};
use tokio_tungstenite::{connect_async, tungstenite::Message};

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.windows(2)
        .find(|w| w[0] == name)
        .map_or_else(|| default.to_owned(), |w| w[1].clone())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket, joins namespace `/` and subscribes to `variant`.
async fn connect(url: &str, variant: &str) -> anyhow::Result<Ws> {
    let ws_url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = connect_async(ws_url).await?;
    let _open = ws.next().await; // 0{"sid":..}
    ws.send(Message::text("40")).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with("40") => break,
            // The server pings at once; unanswered pings end the session.
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
            Some(Ok(_)) => {}
            _ => anyhow::bail!("no namespace connect"),
        }
    }
    ws.send(Message::text(format!(
        r#"421["subscribe",{{"variant":"{variant}"}}]"#
    )))
    .await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with("431") => return Ok(ws),
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
            Some(Ok(_)) => {}
            _ => anyhow::bail!("no subscribe ack"),
        }
    }
}

fn field(text: &str, name: &str) -> Option<u64> {
    let i = text.find(name)? + name.len();
    // PostgreSQL's JSONB re-renders payloads with a space after the colon.
    let digits: String = text[i..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    delivered: u64,
    out_of_order: u64,
    first_seq: u64,
    last_seq: u64,
}

async fn fanout(args: &[String]) -> anyhow::Result<()> {
    let url = arg(args, "--url", "http://127.0.0.1:3000");
    let db = arg(args, "--database-url", "sqlite://data/signalgate.db");
    let clients: usize = arg(args, "--clients", "1000").parse()?;
    let rate: u64 = arg(args, "--rate", "200").parse()?;
    let seconds: u64 = arg(args, "--seconds", "20").parse()?;
    let variant = arg(
        args,
        "--variant",
        &format!("bench_{}", now_us() % 1_000_000),
    );
    let store = store::connect(
        &db,
        &PoolOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await?;

    eprintln!("connecting {clients} clients to {url} (variant {variant}) ...");
    let mut all_stats = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut ws = connect(&url, &variant).await?;
        if (i + 1) % 200 == 0 {
            eprintln!("  {} connected", i + 1);
        }
        let stats = Arc::new(Mutex::new(Stats::default()));
        all_stats.push(stats.clone());
        tasks.push(tokio::spawn(async move {
            let mut last_seq = 0u64;
            while let Some(msg) = ws.next().await {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("client {i}: websocket error: {e}");
                        break;
                    }
                };
                let Message::Text(t) = msg else { continue };
                if t.as_str() == "2" {
                    let _ = ws.send(Message::text("3")).await;
                } else if t.starts_with(r#"42["event_new""#) {
                    let now = now_us();
                    let seq = field(&t, r#""seq":"#).unwrap_or(0);
                    let mut local = stats.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(sent) = field(&t, r#""t_us":"#) {
                        local.latencies_us.push(now.saturating_sub(sent) as u32);
                    }
                    if seq <= last_seq {
                        local.out_of_order += 1;
                    }
                    last_seq = seq;
                    if local.first_seq == 0 {
                        local.first_seq = seq;
                    }
                    local.last_seq = seq;
                    local.delivered += 1;
                }
            }
        }));
    }

    eprintln!("writing {rate} events/s for {seconds} s ...");
    let written = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        n += 1;
        let (store, written, variant) = (store.clone(), written.clone(), variant.clone());
        tokio::spawn(async move {
            let e = NewEvent {
                variant: variant.clone(),
                instance_id: "bench".into(),
                vt_symbol: "rb2405.SHFE".into(),
                bar_dt: None,
                event_type: "signal".into(),
                event_key: format!("{variant}|bench|{n}"),
                created_at: chrono::Utc::now(),
                payload: format!(r#"{{"t_us":{},"n":{n}}}"#, now_us()),
            };
            if store.insert_event(&e).await.unwrap_or(false) {
                written.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let write_secs = start.elapsed().as_secs_f64();
    eprintln!("draining ...");
    // Let in-flight inserts finish before counting what is expected.
    let mut stable = 0;
    while stable < 5 {
        let before = written.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
        stable = if written.load(Ordering::Relaxed) == before {
            stable + 1
        } else {
            0
        };
    }
    let expected = written.load(Ordering::Relaxed) * clients as u64;
    let delivered = || {
        all_stats
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.delivered))
            .sum::<u64>()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && delivered() < expected {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in &tasks {
        t.abort();
    }
    let min_per_client = all_stats
        .iter()
        .map(|s| s.lock().map_or(0, |s| s.delivered))
        .min()
        .unwrap_or(0);
    let short: Vec<(u64, u64, u64)> = all_stats
        .iter()
        .filter_map(|s| {
            let s = s.lock().ok()?;
            (s.delivered < written.load(Ordering::Relaxed)).then_some((
                s.delivered,
                s.first_seq,
                s.last_seq,
            ))
        })
        .collect();
    if !short.is_empty() {
        eprintln!(
            "{} clients short; first few (delivered, first_seq, last_seq): {:?}",
            short.len(),
            &short[..short.len().min(5)]
        );
    }
    let mut s = Stats::default();
    for st in &all_stats {
        let st = st.lock().unwrap_or_else(|p| p.into_inner());
        s.latencies_us.extend_from_slice(&st.latencies_us);
        s.delivered += st.delivered;
        s.out_of_order += st.out_of_order;
    }
    let mut lat = s.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        f64::from(lat[i]) / 1000.0
    };
    println!(
        "clients={clients} events={} expected_msgs={expected} delivered={} min_per_client={min_per_client} out_of_order={} \
         msgs_per_s={:.0} latency_ms p50={:.1} p90={:.1} p99={:.1} max={:.1}",
        written.load(Ordering::Relaxed),
        lat.len(),
        s.out_of_order,
        lat.len() as f64 / write_secs,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}

fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn idle(args: &[String]) -> anyhow::Result<()> {
    let url = arg(args, "--url", "http://127.0.0.1:3000");
    let clients: usize = arg(args, "--clients", "10000").parse()?;
    let pid = arg(args, "--pid", "");
    let variant = arg(args, "--variant", "idle_bench");
    let before = rss_kb(&pid);
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        sockets.push(connect(&url, &variant).await?);
        if (i + 1) % 1000 == 0 {
            eprintln!("  {} connected, gateway RSS {} KB", i + 1, rss_kb(&pid));
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kb(&pid);
    println!(
        "idle connections={clients} gateway_rss_before_kb={before} after_kb={after} per_connection_kb={:.1}",
        (after.saturating_sub(before)) as f64 / clients as f64
    );
    // Keep answering pings while holding the connections for a moment, then exit.
    drop(sockets);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("fanout") => fanout(&args).await,
        Some("idle") => idle(&args).await,
        _ => {
            eprintln!(
                "usage: measure fanout|idle [--url U] [--database-url D] [--clients N] [--rate R] [--seconds S] [--pid P]"
            );
            Ok(())
        }
    }
}
