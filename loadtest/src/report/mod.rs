//! Run reports: one JSON file per run and a self-contained HTML page (inline SVG, no scripts, no
//! network) with latency CDFs and throughput over time. `signalgate-loadtest report a.json
//! b.json …` puts several runs (signalgate and its peers) on one page.

mod html;
mod svg;

use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use html::render;

/// One timeline sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    /// Seconds since sampling started.
    pub t: f64,
    /// Events received by all clients per second.
    pub delivered_per_s: f64,
    /// Events committed by the writers per second.
    pub committed_per_s: f64,
    /// Server CPU, percent of one core.
    pub cpu_pct: f64,
    /// Server RSS.
    pub rss_kb: u64,
    /// Clients connected.
    pub connected: u64,
    /// The largest commit → client latency of an event received in this interval.
    #[serde(default)]
    pub max_latency_ms: f64,
}

/// Commit → client latency summary, milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// `(percentile 0..100, latency ms)` points of the CDF.
    pub cdf: Vec<(f64, f64)>,
}

impl Latency {
    /// Summarises a histogram in microseconds (`None` when empty).
    pub fn from_hist(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let mut qs: Vec<f64> = (1..100).map(|i| f64::from(i) / 100.0).collect();
        qs.extend((1..10).map(|i| 0.99 + f64::from(i) / 1000.0));
        qs.extend([0.9995, 0.9999, 1.0]);
        Some(Self {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: h.max() as f64 / 1000.0,
            mean_ms: h.mean() / 1000.0,
            cdf: qs.into_iter().map(|q| (q * 100.0, ms(q))).collect(),
        })
    }
}

/// How the connect ramp went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connect {
    /// Clients connected and subscribed.
    pub clients: usize,
    /// Seconds the ramp took.
    pub seconds: f64,
    /// Connections + subscriptions per second.
    pub per_s: f64,
    /// Failed connections.
    pub failures: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Short name of the run (file name of the report).
    pub label: String,
    /// Scenario name.
    pub scenario: String,
    /// Server under test (`signalgate`, `node`, `flask`, `raw`).
    pub server: String,
    /// `mysql`, `postgres`, or `none`.
    pub backend: String,
    /// When it ran (UTC).
    pub started_at: String,
    /// The options it ran with.
    pub params: serde_json::Value,
    /// Connect ramp (client scenarios).
    pub connect: Option<Connect>,
    /// What the writers did (scenarios with writers).
    pub writes: Option<crate::writer::WriteResult>,
    /// Events the clients should have received (committed events × clients of their variant).
    pub expected: u64,
    /// Events received, duplicates included.
    pub delivered: u64,
    /// Committed events some client never received.
    pub lost: u64,
    /// Events received twice or more.
    pub duplicates: u64,
    /// Events received with a `seq` not above the previous one.
    pub out_of_order: u64,
    /// Clients that lost at least one event.
    pub clients_with_loss: u64,
    /// `snapshot_update`s received.
    pub snapshots: u64,
    /// Clients that reconnected with `since_seq` (cut off as slow consumers, or the restart of
    /// `resume`); signalgate only.
    #[serde(default)]
    pub reconnects: u64,
    /// Delivered events per second of writing.
    pub delivered_per_s: f64,
    /// Commit → client latency.
    pub latency: Option<Latency>,
    /// Server CPU seconds while writing and draining.
    pub cpu_s: f64,
    /// Server CPU seconds per million delivered messages.
    pub cpu_s_per_million: Option<f64>,
    /// Server RSS before the clients connected.
    pub rss_kb_before: u64,
    /// Server RSS with every client connected, before writing.
    pub rss_kb_connected: u64,
    /// (connected − before) / clients.
    pub rss_per_connection_kb: Option<f64>,
    /// Throughput, CPU and RSS over time.
    pub timeline: Vec<Tick>,
    /// Scenario-specific results (idle steps, resume catch-up, writer tables).
    pub extra: serde_json::Value,
    /// Client-side errors (first few).
    pub client_errors: Vec<String>,
    /// Why the run failed (empty: passed).
    pub failures: Vec<String>,
}

impl RunReport {
    /// An empty report of `scenario` run against `server` (on `db`, when the server used one).
    pub fn new(
        label: &str,
        scenario: &str,
        server: crate::server::Kind,
        db: Option<&crate::db::ScratchDb>,
        params: serde_json::Value,
    ) -> Self {
        let backend = db
            .and_then(|d| crate::db::backend(&d.url).ok())
            .unwrap_or("none");
        Self {
            label: label.to_owned(),
            scenario: scenario.to_owned(),
            server: format!("{server:?}").to_lowercase(),
            backend: backend.to_owned(),
            started_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            params,
            ..Self::default()
        }
    }

    /// A one-paragraph summary for the terminal.
    pub fn summary(&self) -> String {
        let mut s = format!("{}: {} on {}", self.label, self.server, self.backend);
        if self.writes.is_some() {
            s += &format!(
                " — delivered {}/{} ({:.0} msg/s), lost {}, duplicates {}, out of order {}, \
                 resumed after a cut-off or restart {}",
                self.delivered,
                self.expected,
                self.delivered_per_s,
                self.lost,
                self.duplicates,
                self.out_of_order,
                self.reconnects
            );
        }
        if let Some(l) = &self.latency {
            s += &format!(
                "\n  latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
                l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
            );
        }
        if let Some(c) = &self.connect {
            s += &format!(
                "\n  connect: {} clients in {:.1} s ({:.0}/s), {} failed",
                c.clients, c.seconds, c.per_s, c.failures
            );
        }
        if self.cpu_s > 0.0 {
            s += &format!("\n  server CPU {:.2} s", self.cpu_s);
        }
        if let Some(c) = self.cpu_s_per_million {
            s += &format!(" = {c:.2} s per million delivered");
        }
        if let Some(r) = self.rss_per_connection_kb {
            s += &format!("; RSS {:.1} KB per connection", r);
        }
        if let Some(table) = self.extra.get("table").and_then(serde_json::Value::as_str) {
            s += &format!("\n{table}");
        } else if !self.extra.is_null() {
            s += &format!("\n  {}", self.extra);
        }
        for f in &self.failures {
            s += &format!("\n  FAILED: {f}");
        }
        s
    }
}

/// A Markdown table of `runs` (what BENCHMARKS.md shows), with each figure's ratio to the first
/// run's where it makes sense.
pub fn markdown(runs: &[RunReport]) -> String {
    // Scenarios with a table of their own (`writers`) print it instead.
    let own: Vec<&str> = runs
        .iter()
        .filter_map(|r| r.extra.get("table").and_then(serde_json::Value::as_str))
        .collect();
    if !own.is_empty() && own.len() == runs.len() {
        return own.join("\n");
    }
    let f = |v: Option<f64>, d: usize| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.d$}"));
    let ratio = |v: Option<f64>, base: Option<f64>| match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => match v / b {
            r if r >= 10.0 => format!(" ({r:.0}×)"),
            r if r >= 1.0 => format!(" ({r:.1}×)"),
            r => format!(" ({r:.2}×)"),
        },
        _ => String::new(),
    };
    let base = runs.first();
    let mut s = String::from(
        "| run | delivered | msg/s | p50 ms | p99 ms | p99.9 ms | max ms | lost | dup | resumed | CPU s / M msgs | RSS KB / conn |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let p = |g: fn(&Latency) -> f64| r.latency.as_ref().map(g);
        let b = |g: fn(&Latency) -> f64| base.and_then(|b| b.latency.as_ref().map(g));
        s += &format!(
            "| {} | {}/{} | {:.0} | {}{} | {}{} | {} | {} | {} | {} | {} | {}{} | {}{} |\n",
            r.label,
            r.delivered,
            r.expected,
            r.delivered_per_s,
            f(p(|l| l.p50_ms), 1),
            ratio(p(|l| l.p50_ms), b(|l| l.p50_ms)),
            f(p(|l| l.p99_ms), 1),
            ratio(p(|l| l.p99_ms), b(|l| l.p99_ms)),
            f(p(|l| l.p999_ms), 1),
            f(p(|l| l.max_ms), 1),
            r.lost,
            r.duplicates,
            r.reconnects,
            f(r.cpu_s_per_million, 2),
            ratio(r.cpu_s_per_million, base.and_then(|b| b.cpu_s_per_million)),
            f(r.rss_per_connection_kb, 1),
            ratio(
                r.rss_per_connection_kb,
                base.and_then(|b| b.rss_per_connection_kb)
            ),
        );
    }
    s
}

/// Writes `<out>/<label>.json` and `<out>/<label>.html`; returns the JSON path.
pub fn save(r: &RunReport, out: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let json = out.join(format!("{}.json", r.label));
    std::fs::write(&json, serde_json::to_vec_pretty(r)?)
        .with_context(|| format!("write {}", json.display()))?;
    std::fs::write(
        out.join(format!("{}.html", r.label)),
        render(std::slice::from_ref(r)),
    )?;
    Ok(json)
}

/// Reads reports written by [`save`].
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<RunReport>> {
    paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parse {}", p.display()))
        })
        .collect()
}
