//! Real processes for group-mode tests: a private `redis-server`, gateway processes (the
//! cargo-built binary) and `nginx` rendering `deploy/nginx.conf`, each on free ports under a
//! temp directory. Nothing touches the machine's shared services. Every child is killed when
//! its handle is dropped, so a failing test leaves nothing behind.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

use super::{unique, wait_for};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A fresh directory for one test's processes and logs.
pub fn test_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("signalgate-tests")
        .join(unique(prefix));
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

fn log_file(path: &Path) -> (Stdio, Stdio) {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file");
    let g = f.try_clone().expect("log file");
    (Stdio::from(f), Stdio::from(g))
}

/// Sends SIGTERM to `pid`.
fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -TERM {pid}");
}

/// A private redis-server without persistence (a restart loses every key, like a crash).
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts on a free port and waits for PONG.
    pub async fn start(dir: &Path) -> Self {
        let mut r = Self::reserve(dir);
        r.restart().await;
        r
    }

    /// Picks a port without starting the server yet (gateways start with Redis down).
    pub fn reserve(dir: &Path) -> Self {
        Self {
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        }
    }

    /// The URL gateways use.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is already running");
        let (out, err) = log_file(&self.dir.join("redis.log"));
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_for(
            "redis-server to answer",
            Duration::from_secs(10),
            || async move { ping(port).await.then_some(()) },
        )
        .await;
    }

    /// `kill -9`.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Whether `key` exists (one `EXISTS` over a plain connection).
    pub async fn exists(&self, key: &str) -> bool {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("redis connection");
        let cmd = format!("*2\r\n$6\r\nEXISTS\r\n${}\r\n{key}\r\n", key.len());
        s.write_all(cmd.as_bytes()).await.expect("EXISTS sent");
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("redis answers")
            .expect("EXISTS reply");
        match &buf[..n] {
            b":1\r\n" => true,
            b":0\r\n" => false,
            other => panic!("EXISTS reply {:?}", String::from_utf8_lossy(other)),
        }
    }
}

async fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").await.is_ok()
        && tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
            .await
            .is_ok_and(|r| r.is_ok_and(|n| buf[..n].starts_with(b"+PONG")))
}

/// One gateway process.
pub struct Gateway {
    pub port: u16,
    pub base: String,
    pub log: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

/// How to start a gateway process.
#[derive(Debug, Clone)]
pub struct GatewayArgs {
    pub database_url: String,
    pub redis_url: String,
    pub group: String,
    pub lease_ttl_ms: u64,
    pub poll_interval_ms: u64,
    /// Extra environment (test hooks).
    pub env: Vec<(String, String)>,
}

impl Gateway {
    /// Spawns the binary and waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, name: &str, args: &GatewayArgs) -> Self {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let (out, err) = log_file(&log);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signalgate"));
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &args.database_url]);
        // An empty Redis URL: a standalone gateway.
        if !args.redis_url.is_empty() {
            cmd.args(["--redis-url", &args.redis_url])
                .args(["--redis-group", &args.group])
                .args(["--redis-lease-ttl-ms", &args.lease_ttl_ms.to_string()]);
        }
        let child = cmd
            .args(["--poll-interval-ms", &args.poll_interval_ms.to_string()])
            // Short Engine.IO heartbeats so dead peers are noticed within test deadlines.
            .args(["--ping-interval-ms", "2000", "--ping-timeout-ms", "2000"])
            .env("RUST_LOG", "info,signalgate=debug,sqlx=warn")
            .env("NO_COLOR", "1")
            .envs(args.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn gateway");
        let gw = Self {
            port,
            base: format!("http://127.0.0.1:{port}"),
            log,
            child: Some(child),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client"),
        };
        let what = format!("gateway {name} to be ready (log: {})", gw.log.display());
        wait_for(&what, Duration::from_secs(30), || async {
            gw.readyz()
                .await
                .is_some_and(|(s, _)| s == StatusCode::OK)
                .then_some(())
        })
        .await;
        gw
    }

    /// The process id (`None` once it exited).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// `/readyz` status and body, `None` if the process does not answer.
    pub async fn readyz(&self) -> Option<(StatusCode, Value)> {
        let resp = self
            .http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .ok()?;
        let status = resp.status();
        Some((status, resp.json().await.ok()?))
    }

    /// `(role, term)` from `/readyz`, if it answers.
    pub async fn role(&self) -> Option<(String, u64)> {
        let (_, body) = self.readyz().await?;
        let group = &body["group"];
        Some((
            group["role"].as_str()?.to_owned(),
            group["term"].as_u64().unwrap_or(0),
        ))
    }

    /// The value of an unlabelled metric on `/metrics`; 0 when it is not exported (yet).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics body");
        text.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// A counter from `/readyz`'s group section.
    pub async fn counter(&self, name: &str) -> u64 {
        let (_, body) = self.readyz().await.expect("readyz answers");
        body["group"][name].as_u64().unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `kill -9`, returning when the process is gone.
    pub async fn kill(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().await.expect("kill -9");
    }

    /// SIGTERM; [`Gateway::wait_exit`] waits for the end.
    pub fn terminate(&mut self) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running");
        sigterm(pid);
    }

    /// Waits for a terminated process to exit.
    pub async fn wait_exit(&mut self) {
        if let Some(mut c) = self.child.take() {
            let status = tokio::time::timeout(Duration::from_secs(15), c.wait())
                .await
                .expect("gateway exits within 15 s of SIGTERM")
                .expect("wait");
            assert!(status.success(), "clean exit after SIGTERM: {status}");
        }
    }
}

/// nginx in front of the gateways, configured by `deploy/nginx.conf`.
pub struct Nginx {
    pub port: u16,
    child: Child,
}

impl Nginx {
    /// Renders `deploy/nginx.conf` with `upstreams` and a free port (trusting X-Forwarded-For
    /// from 127.0.0.1, so test clients can spread over the hash by that header) and starts it.
    pub async fn start(dir: &Path, upstreams: &[u16]) -> Self {
        let port = free_port();
        let shipped = include_str!("../../../deploy/nginx.conf");
        let mut site = String::new();
        let mut servers_done = false;
        for line in shipped.lines() {
            if line.contains("# signalgate-instance") {
                if !servers_done {
                    for p in upstreams {
                        site.push_str(&format!(
                            "    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"
                        ));
                    }
                    servers_done = true;
                }
            } else if line.contains("# signalgate-listen") {
                site.push_str(&format!("    listen 127.0.0.1:{port};\n"));
            } else if line.contains("set_real_ip_from") {
                site.push_str("    set_real_ip_from 127.0.0.1;\n");
            } else if line.contains("# signalgate-real-ip") {
                site.push_str(&format!("{}\n", line.replacen("# ", "", 1)));
            } else {
                site.push_str(line);
                site.push('\n');
            }
        }
        assert!(servers_done, "deploy/nginx.conf has the instance markers");
        let dir = dir.join("nginx");
        for sub in ["", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("nginx dir");
        }
        std::fs::write(dir.join("signalgate.conf"), site).expect("site");
        let d = dir.display();
        let main = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n\
             proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
             uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
             include {d}/signalgate.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).expect("nginx.conf");
        let (out, err) = log_file(&dir.join("stderr.log"));
        let child = Command::new(nginx_bin())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            // One process, no workers: killing it frees the port (workers would outlive a
            // killed master).
            .args(["-e", "stderr", "-g", "daemon off; master_process off;"])
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("nginx must be installed (scripts/test.sh installs it)");
        let nginx = Self { port, child };
        let url = format!("{}/readyz", nginx.base());
        wait_for("nginx to proxy", Duration::from_secs(10), || {
            let url = url.clone();
            async move {
                reqwest::get(&url)
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK)
                    .then_some(())
            }
        })
        .await;
        nginx
    }

    /// The URL clients use.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops nginx.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}
