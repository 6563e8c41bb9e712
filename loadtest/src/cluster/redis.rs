//! A private `redis-server` for one group run: a free 127.0.0.1 port, no persistence, its files
//! in the run's directory. Never the machine's shared Redis. Killed when dropped.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::{
    net::TcpStream,
    process::{Child, Command},
};

use super::log_file;

/// A running redis-server.
pub struct Redis {
    child: Child,
    /// Its process id (its CPU is reported next to the instances').
    pub pid: u32,
    /// The port it listens on.
    pub port: u16,
}

impl Redis {
    /// Starts redis-server on `port` (files and log in `dir`) and waits until it listens.
    pub async fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let (out, err) = log_file(&dir.join("redis.log"))?;
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("start redis-server (apt-get install redis-server)")?;
        let pid = child.id().context("redis-server exited at once")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listening(port).await {
            if let Some(status) = child.try_wait()? {
                bail!("redis-server exited ({status}); see {}", dir.display());
            }
            if Instant::now() > deadline {
                bail!("redis-server not answering on port {port} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { child, pid, port })
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// redis-server listens once it can serve (no data to load: persistence is off).
async fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}
