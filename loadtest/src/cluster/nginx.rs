//! nginx in front of the instances: `deploy/nginx.conf` rendered with the run's ports, one
//! process (no workers, so killing it frees the port), no access log. The load generator's
//! clients use the WebSocket transport only, so the upstream balances with `least_conn` instead
//! of the shipped `hash $remote_addr` (every client comes from 127.0.0.1 here; see
//! docs/deploy.md: stickiness is not needed for WebSocket-only clients).

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use super::log_file;
use crate::sio::{self, Protocol};

/// The shipped configuration.
const SHIPPED: &str = include_str!("../../../deploy/nginx.conf");

/// A running nginx.
pub struct Nginx {
    child: Child,
    /// Its process id (its CPU is reported next to the instances').
    pub pid: u32,
    /// `http://127.0.0.1:PORT`: what the clients connect to.
    pub url: String,
}

/// `deploy/nginx.conf` with these upstream ports, this listen port and `least_conn`.
pub fn render(upstreams: &[u16], port: u16) -> anyhow::Result<String> {
    let mut site = String::new();
    let (mut servers, mut listen, mut balance) = (false, false, false);
    for line in SHIPPED.lines() {
        if line.contains("# signalgate-instance") {
            if !servers {
                for p in upstreams {
                    site += &format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n");
                }
                servers = true;
            }
        } else if line.contains("# signalgate-listen") {
            site += &format!("    listen 127.0.0.1:{port};\n");
            listen = true;
        } else if line.trim_start().starts_with("hash $remote_addr") {
            site += "    least_conn;\n";
            balance = true;
        } else {
            site += line;
            site.push('\n');
        }
    }
    if !(servers && listen && balance) {
        bail!("deploy/nginx.conf lacks the instance / listen markers or the hash line");
    }
    Ok(site)
}

impl Nginx {
    /// Writes the configuration under `dir` and starts nginx on `port`; waits until a client
    /// can subscribe through it. `connections`: clients it must hold (two sockets each).
    pub async fn start(
        dir: &Path,
        upstreams: &[u16],
        port: u16,
        connections: usize,
    ) -> anyhow::Result<Self> {
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::write(dir.join("signalgate.conf"), render(upstreams, port)?)?;
        let d = dir.display();
        let workers = (connections * 2 + 1024).max(4096);
        let main = format!(
            "worker_processes 1;\nworker_rlimit_nofile {};\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections {workers}; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/tmp/body;\n\
             proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
             uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
             include {d}/signalgate.conf;\n}}\n",
            workers + 64
        );
        std::fs::write(dir.join("nginx.conf"), main)?;
        let (out, err) = log_file(&dir.join("stderr.log"))?;
        let bin = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-e", "stderr", "-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("start nginx (apt-get install nginx)")?;
        let pid = child.id().context("nginx exited at once")?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("nginx exited ({status}); see {d}/stderr.log");
            }
            let probe = sio::connect(&url, Protocol::SocketIo, "lt_probe", None);
            if let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(2), probe).await {
                let _ = ws.close(None).await;
                return Ok(Self { child, pid, url });
            }
            if Instant::now() > deadline {
                bail!("no subscribe through nginx on {url} within 20 s; see {d}/error.log");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_ports_and_least_conn() {
        let conf = super::render(&[4001, 4002, 4003], 9000).expect("markers present");
        assert_eq!(conf.matches("server 127.0.0.1:400").count(), 3);
        assert!(conf.contains("listen 127.0.0.1:9000;"));
        assert!(conf.contains("least_conn;") && !conf.contains("hash $remote_addr"));
        assert!(conf.contains("proxy_set_header Upgrade $http_upgrade;"));
    }
}
