//! The real binary under SIGTERM: with connected Socket.IO clients it tells each of them
//! `server_shutdown {reconnect: true}`, closes them and exits 0 within `--shutdown-timeout`; and its JSON logs (at debug level, with authentication on)
//! never contain the JWT secret, a token or the database password.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::json;
use signalgate::auth::{JwtSecret, mint};

use crate::common::{Backend, TestDb, binary, raw_sio::RawSocket, unique};

const SECRET: &str = "shutdown-test-secret-0123456789";

/// Starts `signalgate serve`; returns the child, its base URL and its stderr lines.
fn start(db: &TestDb) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = binary()
        .args(["--database-url", &db.url, "--listen", "127.0.0.1:0"])
        .args(["--jwt-secret", SECRET, "--log-format", "json"])
        .args(["--shutdown-timeout", "5s", "serve"])
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn signalgate");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no 'listening on' log line within 30 s");
        };
        if let Some(rest) = line.split("listening on http://").nth(1) {
            let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return (child, format!("http://{addr}"), rx);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_clients_exits_cleanly_within_the_timeout_and_logs_no_secrets() {
    let db = TestDb::create(Backend::Sqlite).await;
    let (mut child, base, logs) = start(&db);
    let token = mint(
        &JwtSecret::new(SECRET),
        "ops",
        vec!["*".into()],
        Duration::from_secs(600),
    )
    .expect("mint");
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = RawSocket::connect_auth(&base, Some(json!({"token": token})))
            .await
            .expect("connects");
        let ack = c
            .request(1, "subscribe", json!({"variant": unique("sd")}))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        clients.push(c);
    }
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/variants"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    // A refused token is logged too: it must not be echoed.
    assert!(
        RawSocket::connect_auth(&base, Some(json!({"token": format!("{token}x")})))
            .await
            .is_err()
    );

    let sent = Instant::now();
    // The shell's builtin `kill`: no procps needed on a fresh machine.
    let killed = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .expect("kill");
    assert!(killed.success());
    for c in &mut clients {
        // Each client is told to reconnect elsewhere, then sees its connection end.
        let mut frames = Vec::new();
        while let Some(f) = c.recv().await {
            frames.push(f);
        }
        let told = frames.iter().position(|f| {
            f.strip_prefix("42").is_some_and(|j| {
                serde_json::from_str::<serde_json::Value>(j).ok()
                    == Some(
                        json!(["server_shutdown", {"reconnect": true, "reason": "shutting down"}]),
                    )
            })
        });
        assert!(told.is_some(), "no server_shutdown message: {frames:?}");
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(8),
            "no exit within the 5 s bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        sent.elapsed() < Duration::from_secs(6),
        "took {:?}",
        sent.elapsed()
    );

    let lines: Vec<String> = logs.try_iter().collect();
    assert!(
        lines.iter().any(|l| l.contains("shutting down")),
        "{lines:#?}"
    );
    for line in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
        assert!(!line.contains(SECRET), "secret in a log line: {line}");
        let sig = token.rsplit('.').next().unwrap_or_default();
        assert!(!line.contains(sig), "token in a log line: {line}");
        assert!(!line.contains("eyJ"), "a JWT in a log line: {line}");
    }
    db.drop_db().await;
}
