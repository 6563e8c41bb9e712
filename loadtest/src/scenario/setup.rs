//! What every client scenario needs: a scratch database (the gateway's schema for signalgate,
//! the plain seed schema for the peers, as their users have it), the server
//! under test on a free port, clients connected with a ramp, and a sampler that records the
//! throughput timeline and the server's CPU and RSS.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::{sync::watch, task::JoinHandle};

use super::Opts;
use crate::{
    client::{self, ClientStats, Target, Totals},
    db::{Schema, ScratchDb},
    ledger::Ledger,
    report::Tick,
    server::{self, Kind, Server, ServerSpec},
    writer::WriteTotals,
};

/// Handshakes in flight while ramping up.
const CONNECT_PARALLELISM: usize = 32;

/// A database (when the server uses one) and the running server.
pub struct Setup {
    /// The scratch database.
    pub db: Option<ScratchDb>,
    server: Option<Server>,
    port: u16,
    spec: ServerSpec,
    log: PathBuf,
}

impl Setup {
    /// Creates the database, applies the gateway's schema and starts the server.
    pub async fn start(opts: &Opts, label: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&opts.out)?;
        let spec = ServerSpec {
            kind: opts.server,
            signalgate_bin: opts.signalgate_bin(),
            cmd: opts.server_cmd.clone(),
            extra_args: opts.gateway_args.clone(),
            poll_ms: opts.poll_ms,
        };
        let db = if spec.kind.uses_db() {
            let db = ScratchDb::create(&opts.db).await?;
            // The peers get what their users have: the design's tables without the seq trigger.
            let schema = if spec.kind == Kind::Signalgate {
                Schema::Gateway
            } else {
                Schema::Seed
            };
            if let Err(e) = db.apply(schema, &spec.signalgate_bin).await {
                db.drop_db().await;
                return Err(e);
            }
            Some(db)
        } else {
            None
        };
        let log = opts.out.join(format!("{label}.server.log"));
        let _ = std::fs::remove_file(&log);
        let url = db.as_ref().map_or(String::new(), |d| d.url.clone());
        let started = async {
            let mut server = Server::start(&spec, server::free_port()?, &url, &log).await?;
            server
                .wait_ready(spec.kind.protocol(), Duration::from_secs(60))
                .await?;
            anyhow::Ok(server)
        };
        match started.await {
            Ok(server) => Ok(Self {
                db,
                port: server.port,
                server: Some(server),
                spec,
                log,
            }),
            Err(e) => {
                if let Some(db) = &db {
                    db.drop_db().await;
                }
                Err(e.context(format!("server log: {}", log.display())))
            }
        }
    }

    /// The running server (between [`Setup::stop_server`] and [`Setup::start_again`] there is
    /// none).
    pub fn server(&self) -> anyhow::Result<&Server> {
        self.server.as_ref().context("the server is stopped")
    }

    /// Stops the server with SIGTERM (its clients see the connection close).
    pub async fn stop_server(&mut self) -> anyhow::Result<()> {
        match self.server.take() {
            Some(s) => s.stop().await,
            None => Ok(()),
        }
    }

    /// Starts the server again on the same port and waits until it is ready.
    pub async fn start_again(&mut self) -> anyhow::Result<&Server> {
        let url = self.db.as_ref().map_or(String::new(), |d| d.url.clone());
        let mut server = Server::start(&self.spec, self.port, &url, &self.log).await?;
        server
            .wait_ready(self.spec.kind.protocol(), Duration::from_secs(60))
            .await?;
        Ok(self.server.insert(server))
    }

    /// Stops the server and drops the database.
    pub async fn finish(self) {
        if let Some(s) = self.server {
            let _ = s.stop().await;
        }
        if let Some(db) = &self.db {
            db.drop_db().await;
        }
    }
}

/// Clients connected so far, and how the ramp went.
pub struct Clients {
    /// One task per client; each returns its counters when told to stop.
    pub tasks: Vec<JoinHandle<ClientStats>>,
    /// Seconds the ramp took.
    pub seconds: f64,
    /// Connections that failed.
    pub failures: u64,
    /// The first failure.
    pub first_error: Option<String>,
}

/// Connects clients `from..to` (client i follows variant i % variants) with the ramp of `opts`.
#[allow(clippy::too_many_arguments)]
pub async fn connect(
    opts: &Opts,
    target: &Target,
    ledger: &Arc<Ledger>,
    totals: &Arc<Totals>,
    stop: &watch::Receiver<bool>,
    range: std::ops::Range<usize>,
    reconnect: bool,
    bar: &ProgressBar,
) -> Clients {
    let start = Instant::now();
    let ramp = opts.ramp;
    let results = futures::stream::iter(range.clone())
        .map(|i| {
            let target = target.clone();
            let variant = i % ledger.variants.len();
            let name = ledger.variants[variant].name.clone();
            async move {
                if ramp > 0.0 {
                    let at = start + Duration::from_secs_f64((i - range.start) as f64 / ramp);
                    tokio::time::sleep_until(at.into()).await;
                }
                (variant, client::connect(&target, &name).await)
            }
        })
        .buffer_unordered(CONNECT_PARALLELISM);
    tokio::pin!(results);
    let mut out = Clients {
        tasks: Vec::new(),
        seconds: 0.0,
        failures: 0,
        first_error: None,
    };
    while let Some((variant, r)) = results.next().await {
        bar.inc(1);
        match r {
            Ok(ws) => out.tasks.push(tokio::spawn(client::run(
                ws,
                target.clone(),
                variant,
                ledger.clone(),
                totals.clone(),
                stop.clone(),
                reconnect,
            ))),
            Err(e) => {
                out.failures += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    out.seconds = start.elapsed().as_secs_f64();
    out
}

/// A progress bar, hidden with `--quiet`.
pub fn bar(opts: &Opts, len: Option<u64>, what: &str) -> ProgressBar {
    if opts.quiet {
        return ProgressBar::hidden();
    }
    let b = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{prefix:>12} {spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    b.set_prefix(what.to_owned());
    b.enable_steady_tick(Duration::from_millis(200));
    b
}

/// Samples throughput, CPU and RSS every `TICK` into a timeline.
pub struct Sampler {
    /// The timeline so far.
    pub ticks: Arc<Mutex<Vec<Tick>>>,
    /// The server's pid (updated on restart).
    pub pid: Arc<AtomicU32>,
    /// CPU seconds accumulated over every server process of the run.
    pub cpu_s: Arc<Mutex<f64>>,
    task: JoinHandle<()>,
}

/// Sampling period of the timeline.
const TICK: Duration = Duration::from_millis(500);

impl Sampler {
    /// Starts sampling.
    pub fn start(
        pid: u32,
        clients: Arc<Totals>,
        writes: Arc<WriteTotals>,
        bar: ProgressBar,
    ) -> Self {
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let pid = Arc::new(AtomicU32::new(pid));
        let cpu_s = Arc::new(Mutex::new(0.0));
        let (t2, p2, c2) = (ticks.clone(), pid.clone(), cpu_s.clone());
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (
                0u64,
                0u64,
                start,
                pid_cpu(p2.load(Ordering::Relaxed)),
                p2.load(Ordering::Relaxed),
            );
            let mut iv = tokio::time::interval(TICK);
            loop {
                iv.tick().await;
                let now = Instant::now();
                let dt = now.duration_since(last.2).as_secs_f64().max(1e-6);
                let (d, c) = (
                    clients.delivered.load(Ordering::Relaxed),
                    writes.committed.load(Ordering::Relaxed),
                );
                let p = p2.load(Ordering::Relaxed);
                let s = server::sample(p).unwrap_or_default();
                let dcpu = if p == last.4 {
                    s.cpu_s - last.3
                } else {
                    s.cpu_s
                };
                if let Ok(mut total) = c2.lock() {
                    *total += dcpu.max(0.0);
                }
                let tick = Tick {
                    t: now.duration_since(start).as_secs_f64(),
                    delivered_per_s: (d - last.0) as f64 / dt,
                    committed_per_s: (c - last.1) as f64 / dt,
                    cpu_pct: 100.0 * dcpu.max(0.0) / dt,
                    rss_kb: s.rss_kb,
                    connected: clients.connected.load(Ordering::Relaxed),
                };
                bar.set_message(format!(
                    "{:>9.0} msg/s  {:>6.0} commits/s  {} connected  cpu {:.0}%  rss {} MB",
                    tick.delivered_per_s,
                    tick.committed_per_s,
                    tick.connected,
                    tick.cpu_pct,
                    tick.rss_kb / 1024
                ));
                if let Ok(mut t) = t2.lock() {
                    t.push(tick);
                }
                last = (d, c, now, s.cpu_s, p);
            }
        });
        Self {
            ticks,
            pid,
            cpu_s,
            task,
        }
    }

    /// CPU seconds counted so far.
    pub fn cpu(&self) -> f64 {
        self.cpu_s.lock().map_or(0.0, |c| *c)
    }

    /// Stops sampling and returns the timeline.
    pub fn stop(self) -> Vec<Tick> {
        self.task.abort();
        self.ticks.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

fn pid_cpu(pid: u32) -> f64 {
    server::sample(pid).map_or(0.0, |s| s.cpu_s)
}

/// Waits until `expected` events are delivered, nothing has been delivered for `quiet`, or
/// `limit` passes; says which, and after how many seconds.
pub async fn drain(totals: &Totals, expected: u64, quiet: Duration, limit: Duration) -> String {
    let start = Instant::now();
    let deadline = start + limit;
    let (mut last, mut since) = (totals.delivered.load(Ordering::Relaxed), Instant::now());
    let how = loop {
        let now = totals.delivered.load(Ordering::Relaxed);
        if now >= expected {
            break "complete";
        }
        if Instant::now() >= deadline {
            break "time limit";
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > quiet {
            break "quiet";
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    format!("{how} after {:.1} s", start.elapsed().as_secs_f64())
}

/// A counter for unique run ids (event keys stay unique across runs on one database).
pub fn run_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:x}{}", crate::now_us(), N.fetch_add(1, Ordering::Relaxed))
}
