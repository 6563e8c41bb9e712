//! A group under test: a private `redis-server`, N instances of the server on free ports in one
//! group, and nginx in front of them; all children of this process, killed when dropped.
//!
//! - signalgate: `serve` with `SIGNALGATE_REDIS_URL` and a fresh `SIGNALGATE_REDIS_GROUP`; the
//!   instances elect one poller (docs/deploy.md). Ready when every instance answers a subscribe
//!   and exactly one leads (`/readyz`).
//! - node: `peers/node` with `REDIS_URL` (`@socket.io/redis-adapter`); instance 0 has
//!   `POLLER=1` and polls, the others relay. Nothing replaces a dead poller.
//!
//! [`Cluster::kill_leader`] kills the poller with SIGKILL and (signalgate) measures how long
//! until another instance leads, by that instance's own `leader_since_unix_ms`.

mod nginx;
mod redis;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

pub use nginx::render as render_nginx;

use crate::server::{self, Kind, ProcSample, Server, ServerSpec, free_port};

/// How long the instances get to elect a leader at start-up and after a kill.
const ELECTION: Duration = Duration::from_secs(20);

/// Redis, the instances (`None` once killed) and nginx.
pub struct Cluster {
    redis: Option<redis::Redis>,
    instances: Vec<Option<Server>>,
    nginx: Option<nginx::Nginx>,
    kind: Kind,
    http: reqwest::Client,
    /// Where the logs are.
    pub dir: PathBuf,
}

/// Opens (appends to) a log file for a child's stdout and stderr.
fn log_file(path: &Path) -> anyhow::Result<(Stdio, Stdio)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

impl Cluster {
    /// Starts Redis, `n` instances of `spec` on `db_url` and nginx; logs under `dir`. Waits
    /// until a client can subscribe through nginx and (signalgate) one instance leads.
    pub async fn start(
        spec: &ServerSpec,
        n: usize,
        db_url: &str,
        dir: &Path,
        connections: usize,
    ) -> anyhow::Result<Self> {
        if !matches!(spec.kind, Kind::Signalgate | Kind::Node) {
            bail!("the group scenario runs signalgate or node (with @socket.io/redis-adapter)");
        }
        std::fs::create_dir_all(dir)?;
        let mut c = Self {
            redis: Some(redis::Redis::start(dir, free_port()?).await?),
            instances: Vec::new(),
            nginx: None,
            kind: spec.kind,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
            dir: dir.to_owned(),
        };
        let redis_url = c.redis.as_ref().map(redis::Redis::url).unwrap_or_default();
        let group = format!("lt-{}", crate::run_id());
        for i in 0..n.max(1) {
            let mut s = spec.clone();
            s.env = match spec.kind {
                Kind::Signalgate => vec![
                    ("SIGNALGATE_REDIS_URL".into(), redis_url.clone()),
                    ("SIGNALGATE_REDIS_GROUP".into(), group.clone()),
                ],
                _ => vec![
                    ("REDIS_URL".into(), redis_url.clone()),
                    ("POLLER".into(), if i == 0 { "1" } else { "0" }.into()),
                ],
            };
            let log = dir.join(format!("instance{i}.log"));
            let mut server = Server::start(&s, free_port()?, db_url, &log).await?;
            server
                .wait_ready(spec.kind.protocol(), Duration::from_secs(60))
                .await
                .with_context(|| format!("instance {i}, log {}", log.display()))?;
            c.instances.push(Some(server));
        }
        c.wait_leader(0).await?;
        let ports: Vec<u16> = c.instances.iter().flatten().map(|s| s.port).collect();
        c.nginx = Some(nginx::Nginx::start(dir, &ports, free_port()?, connections).await?);
        Ok(c)
    }

    /// The URL clients connect to (nginx).
    pub fn url(&self) -> String {
        self.nginx
            .as_ref()
            .map(|n| n.url.clone())
            .unwrap_or_default()
    }

    /// Process ids of the instances still running.
    pub fn pids(&self) -> Vec<u32> {
        self.instances.iter().flatten().map(|s| s.pid).collect()
    }

    /// CPU seconds and RSS of Redis and nginx (reported next to the instances').
    pub fn helpers(&self) -> (ProcSample, ProcSample) {
        let s = |pid: Option<u32>| pid.and_then(server::sample).unwrap_or_default();
        (
            s(self.redis.as_ref().map(|r| r.pid)),
            s(self.nginx.as_ref().map(|n| n.pid)),
        )
    }

    /// `/readyz` of instance `i` (`None` when it does not answer).
    async fn readyz(&self, i: usize) -> Option<Value> {
        let s = self.instances.get(i)?.as_ref()?;
        let resp = self
            .http
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
    }

    /// signalgate: waits until exactly one running instance leads with a term above `after`
    /// and returns its index, term and `leader_since_unix_ms`. node: instance 0, the poller.
    async fn wait_leader(&self, after: u64) -> anyhow::Result<(usize, u64, i64)> {
        if self.kind != Kind::Signalgate {
            return Ok((0, 0, 0));
        }
        let deadline = Instant::now() + ELECTION;
        loop {
            let mut leaders = Vec::new();
            for i in 0..self.instances.len() {
                if let Some(g) = self.readyz(i).await.map(|b| b["group"].clone())
                    && g["role"] == "leader"
                    && g["term"].as_u64().unwrap_or(0) > after
                {
                    let since = g["leader_since_unix_ms"].as_i64().unwrap_or(0);
                    leaders.push((i, g["term"].as_u64().unwrap_or(0), since));
                }
            }
            if let [one] = leaders.as_slice() {
                return Ok(*one);
            }
            if Instant::now() > deadline {
                bail!(
                    "no single leader within {ELECTION:?} (logs in {})",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the leader (node: the poller) with SIGKILL; signalgate: waits for the next leader.
    /// Returns what happened, for the report.
    pub async fn kill_leader(&mut self) -> anyhow::Result<Value> {
        let (i, term, _) = self.wait_leader(0).await?;
        let server = self.instances[i].as_mut().context("the leader is gone")?;
        let pid = server.pid;
        let killed_ms = chrono::Utc::now().timestamp_millis();
        let killed_us = crate::now_us();
        server.kill().await?;
        self.instances[i] = None;
        let mut out = json!({"killed_instance": i, "killed_pid": pid, "killed_term": term,
            "killed_at_us": killed_us});
        if self.kind == Kind::Signalgate {
            let (j, new_term, since) = self.wait_leader(term).await?;
            out["new_leader"] = json!(j);
            out["new_term"] = json!(new_term);
            out["failover_ms"] = json!(since - killed_ms);
        }
        Ok(out)
    }

    /// Stops the instances (SIGTERM, all at once), then nginx and Redis.
    pub async fn stop(mut self) {
        let stops = self.instances.drain(..).flatten().map(Server::stop);
        futures::future::join_all(stops).await;
        if let Some(n) = self.nginx.take() {
            n.stop().await;
        }
        if let Some(r) = self.redis.take() {
            r.stop().await;
        }
    }
}
