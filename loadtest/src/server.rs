//! The server under test: started by the load generator on a free 127.0.0.1 port, probed until a
//! subscribe succeeds, sampled from `/proc/<pid>` (CPU seconds, RSS), stopped with SIGTERM.
//!
//! Kinds: `signalgate` (the gateway binary), `node` (Node socket.io peer), `flask`
//! (Flask-SocketIO peer), `raw` (the `ws-broadcast` binary). Each gets `PORT` and
//! `DATABASE_URL` in its environment; `--server-cmd` replaces the default command line. The
//! `group` scenario starts several of them through [`crate::cluster`].

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::sio::{self, Protocol};

/// Which server is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The signalgate binary.
    Signalgate,
    /// `peers/node`: socket.io 4 polling `id > last_id`.
    Node,
    /// `peers/flask`: Flask-SocketIO, a background thread polling MySQL by id.
    Flask,
    /// `ws-broadcast`: raw WebSocket broadcast, no database.
    Raw,
}

impl Kind {
    /// The wire protocol of this kind.
    pub fn protocol(self) -> Protocol {
        match self {
            Self::Raw => Protocol::Raw,
            _ => Protocol::SocketIo,
        }
    }

    /// Whether it reads the database (the raw peer gets rows from the publisher).
    pub fn uses_db(self) -> bool {
        self != Self::Raw
    }
}

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Which kind.
    pub kind: Kind,
    /// The signalgate binary (also used for `migrate`).
    pub signalgate_bin: PathBuf,
    /// Replaces the default command line (run by `sh -c 'exec …'`).
    pub cmd: Option<String>,
    /// Extra arguments for `signalgate serve`.
    pub extra_args: Vec<String>,
    /// The peers' poll interval (ms), passed as `POLL_MS`.
    pub poll_ms: u64,
    /// Extra environment (group mode: the Redis URL and group).
    pub env: Vec<(String, String)>,
}

/// A running server.
pub struct Server {
    child: tokio::process::Child,
    /// Its process id (sampled from `/proc`).
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on (kept across restarts).
    pub port: u16,
}

/// A free port on 127.0.0.1 (bound and released; a tiny race is acceptable here).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The directory of this executable's siblings (`target/<profile>`), also from a test binary in
/// `target/<profile>/deps`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

fn peer(path: &str) -> String {
    format!("{}/peers/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn default_cmd(spec: &ServerSpec, port: u16, db_url: &str) -> (String, Vec<String>) {
    match spec.kind {
        Kind::Signalgate => {
            let mut args: Vec<String> = vec![
                "serve".into(),
                "--no-migrate".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--database-url".into(),
                db_url.into(),
            ];
            args.extend(spec.extra_args.iter().cloned());
            (spec.signalgate_bin.display().to_string(), args)
        }
        Kind::Node => ("node".into(), vec![peer("node/server.js")]),
        Kind::Flask => (
            format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")),
            vec![peer("flask/app.py")],
        ),
        Kind::Raw => (
            bin_dir().join("ws-broadcast").display().to_string(),
            vec!["--listen".into(), format!("127.0.0.1:{port}")],
        ),
    }
}

impl Server {
    /// Starts the server on `port`; its output goes to `log`.
    pub async fn start(
        spec: &ServerSpec,
        port: u16,
        db_url: &str,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open {}", log.display()))?;
        let mut cmd = match &spec.cmd {
            Some(c) => {
                let mut cmd = tokio::process::Command::new("sh");
                cmd.arg("-c").arg(format!("exec {c}"));
                cmd
            }
            None => {
                let (prog, args) = default_cmd(spec, port, db_url);
                let mut cmd = tokio::process::Command::new(prog);
                cmd.args(args);
                cmd
            }
        };
        cmd.env("PORT", port.to_string())
            .env("DATABASE_URL", db_url)
            .env("POLL_MS", spec.poll_ms.to_string())
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("LOADTEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("start the {:?} server", spec.kind))?;
        let pid = child.id().context("server exited at once")?;
        Ok(Self {
            child,
            pid,
            url: format!("http://127.0.0.1:{port}"),
            port,
        })
    }

    /// Waits until a client can connect and subscribe (signalgate answers `unavailable` until
    /// its live state is loaded).
    pub async fn wait_ready(&mut self, proto: Protocol, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited during start-up ({status}); see its log");
            }
            let probe = sio::connect(&self.url, proto, "lt_probe", None);
            if let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(2), probe).await {
                let _ = ws.close(None).await;
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("server not ready on {} within {timeout:?}", self.url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }

    /// SIGKILL (a crash), returning when the process is gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        Ok(self.child.kill().await?)
    }

    /// CPU seconds and RSS now.
    pub fn sample(&self) -> Option<ProcSample> {
        sample(self.pid)
    }
}

/// A `/proc` reading of the server process.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ProcSample {
    /// User + system CPU seconds since the process started.
    pub cpu_s: f64,
    /// Resident set size, KB.
    pub rss_kb: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on every Linux we run on).
const CLK_TCK: f64 = 100.0;

/// Reads `/proc/<pid>/stat` (utime, stime) and `/proc/<pid>/status` (VmRSS).
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are space-separated.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 (index 0 here); utime 14 and stime 15 → 11, 12.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())?;
    Some(ProcSample {
        cpu_s: ticks as f64 / CLK_TCK,
        rss_kb,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_this_process() {
        let s = super::sample(std::process::id()).expect("/proc is readable");
        assert!(s.rss_kb > 0);
    }
}
