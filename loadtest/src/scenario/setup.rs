//! What every client scenario needs: a scratch database (the gateway's schema for signalgate,
//! the plain seed schema for the peers, as their users have it), the server
//! under test on a free port (or, for `group`, several instances with Redis behind nginx),
//! clients connected with a ramp, and a sampler that records the throughput timeline and the
//! server's CPU and RSS.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::{sync::watch, task::JoinHandle};

use super::Opts;
use crate::{
    client::{self, ClientStats, Target, Totals},
    cluster::Cluster,
    db::{Schema, ScratchDb},
    ledger::Ledger,
    server::{self, Kind, Server, ServerSpec},
    stmtcount::StmtProxy,
};

/// Handshakes in flight while ramping up.
const CONNECT_PARALLELISM: usize = 32;

/// A database (when the server uses one) and the running server, or (`group`) a cluster of
/// instances behind nginx.
pub struct Setup {
    /// The scratch database.
    pub db: Option<ScratchDb>,
    server: Option<Server>,
    /// The `group` scenario's Redis, instances and nginx.
    pub group: Option<Cluster>,
    /// Counts the server's statements (when asked for; the server's URL points at it).
    pub proxy: Option<StmtProxy>,
    port: u16,
    spec: ServerSpec,
    log: PathBuf,
}

/// The server spec of `opts` and its scratch database with the right schema (the gateway's
/// for signalgate; for the peers the design's tables without the seq trigger, as their users
/// have them).
async fn prepare(opts: &Opts) -> anyhow::Result<(ServerSpec, Option<ScratchDb>)> {
    std::fs::create_dir_all(&opts.out)?;
    let spec = ServerSpec {
        kind: opts.server,
        signalgate_bin: opts.signalgate_bin(),
        cmd: opts.server_cmd.clone(),
        extra_args: opts.gateway_args.clone(),
        poll_ms: opts.poll_ms,
        env: Vec::new(),
    };
    if !spec.kind.uses_db() {
        return Ok((spec, None));
    }
    let db = ScratchDb::create(&opts.db).await?;
    let schema = if spec.kind == Kind::Signalgate {
        Schema::Gateway
    } else {
        Schema::Seed
    };
    if let Err(e) = db.apply(schema, &spec.signalgate_bin).await {
        db.drop_db().await;
        return Err(e);
    }
    Ok((spec, Some(db)))
}

impl Setup {
    /// Creates the database, applies the schema and starts the server; with `count`, the server
    /// reaches its database through a [`StmtProxy`] that counts its statements.
    pub async fn start(opts: &Opts, label: &str, count: bool) -> anyhow::Result<Self> {
        let (spec, db) = prepare(opts).await?;
        let log = opts.out.join(format!("{label}.server.log"));
        let _ = std::fs::remove_file(&log);
        let mut url = db.as_ref().map_or(String::new(), |d| d.url.clone());
        let mut proxy = None;
        if count && !url.is_empty() {
            match StmtProxy::start(&url).await {
                Ok(p) => url = proxy.insert(p).url.clone(),
                Err(e) => {
                    if let Some(db) = &db {
                        db.drop_db().await;
                    }
                    return Err(e);
                }
            }
        }
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
                group: None,
                proxy,
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

    /// Creates the database and starts a private Redis, `instances` servers in one group and
    /// nginx in front of them (logs in `<out>/<label>.group/`), sized for `clients`.
    pub async fn start_group(
        opts: &Opts,
        label: &str,
        instances: usize,
        clients: usize,
    ) -> anyhow::Result<Self> {
        let (spec, db) = prepare(opts).await?;
        let dir = opts.out.join(format!("{label}.group"));
        let _ = std::fs::remove_dir_all(&dir);
        let url = db.as_ref().map_or(String::new(), |d| d.url.clone());
        match Cluster::start(&spec, instances, &url, &dir, clients).await {
            Ok(c) => Ok(Self {
                db,
                server: None,
                group: Some(c),
                proxy: None,
                port: 0,
                spec,
                log: dir,
            }),
            Err(e) => {
                if let Some(db) = &db {
                    db.drop_db().await;
                }
                Err(e.context(format!("logs: {}", dir.display())))
            }
        }
    }

    /// The processes under test (CPU and RSS are summed over them) and the URL clients use.
    pub fn target(&self) -> anyhow::Result<(Vec<u32>, String)> {
        if let Some(c) = &self.group {
            return Ok((c.pids(), c.url()));
        }
        let s = self.server()?;
        Ok((vec![s.pid], s.url.clone()))
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

    /// Statements the server sent its database so far (with a [`StmtProxy`]).
    pub fn statements(&self) -> Option<u64> {
        self.proxy.as_ref().map(StmtProxy::statements)
    }

    /// Starts the server again on the same port and waits until it is ready.
    pub async fn start_again(&mut self) -> anyhow::Result<&Server> {
        let url = match &self.proxy {
            Some(p) => p.url.clone(),
            None => self.db.as_ref().map_or(String::new(), |d| d.url.clone()),
        };
        let mut server = Server::start(&self.spec, self.port, &url, &self.log).await?;
        server
            .wait_ready(self.spec.kind.protocol(), Duration::from_secs(60))
            .await?;
        Ok(self.server.insert(server))
    }

    /// Stops the server (or the group) and drops the database.
    pub async fn finish(self) {
        if let Some(s) = self.server {
            let _ = s.stop().await;
        }
        if let Some(c) = self.group {
            c.stop().await;
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

/// Resolves on Ctrl-C or SIGTERM, naming the signal.
pub async fn interrupted() -> &'static str {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => s.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term => "SIGTERM",
    }
}

pub use crate::run_id;
