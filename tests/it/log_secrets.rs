//! No secret in any output: the real binary at `RUST_LOG=trace` (and with `RUST_LOG` naming the
//! packet-logging modules directly), serving REST and Socket.IO clients (websocket and
//! long-polling) that present tokens, never prints a token, the JWT secret or the database
//! password; a refused `--jwt-secret` is not echoed in the CLI error.

use std::{process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use signalgate::auth::{JwtSecret, mint};

use crate::common::{
    Backend, TestDb, binary,
    procs::free_port,
    raw_sio::RawSocket,
    sio::{Mode, Sio},
    unique, wait_for,
};

const SECRET: &str = "log-secret-Zq8v1m0x9k2j7h4g";
const DB_PASSWORD: &str = "dbpw-Hn4Kq7Wm2Rt9";

/// Runs the gateway with `rust_log`, drives authenticated traffic through it and returns what
/// it printed, with the token it was given.
async fn traffic_log(rust_log: &str) -> (String, Vec<String>) {
    let db = TestDb::create(Backend::Postgres).await;
    // The shared test server trusts local connections, so the password is sent and ignored.
    let mut url = url::Url::parse(&db.url).expect("db url");
    url.set_password(Some(DB_PASSWORD)).expect("password");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("sg-log-secrets-{}.log", unique("run")));
    let file = std::fs::File::create(&log).expect("log file");
    let mut child = tokio::process::Command::from({
        let mut cmd = binary();
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--database-url",
                url.as_str(),
                "--jwt-secret",
                SECRET,
                "serve",
            ])
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file));
        cmd
    })
    .kill_on_drop(true)
    .spawn()
    .expect("spawn");
    let http = reqwest::Client::new();
    wait_for(
        "the gateway to be ready",
        Duration::from_secs(60),
        || async {
            let r = http.get(format!("{base}/readyz")).send().await.ok()?;
            (r.status() == StatusCode::OK).then_some(())
        },
    )
    .await;

    let secret = JwtSecret::new(SECRET);
    let minted = |sub: &str| mint(&secret, sub, vec!["*".into()], Duration::from_secs(600));
    let tokens: Vec<String> = ["rest", "ws", "polling", "raw"]
        .into_iter()
        .map(|s| minted(s).expect("mint"))
        .collect();
    let foreign = mint(
        &JwtSecret::new("another-secret-0123456789"),
        "x",
        vec![],
        Duration::from_secs(600),
    )
    .expect("mint");
    let resp = http
        .get(format!("{base}/api/variants"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http
        .get(format!("{base}/api/variants"))
        .bearer_auth(&foreign)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v = unique("logs");
    for (mode, token) in [(Mode::Normal, &tokens[1]), (Mode::Polling, &tokens[2])] {
        let c = Sio::connect_with(&base, mode, Some(json!({"token": token}))).await;
        assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
        c.close().await;
    }
    let mut raw = RawSocket::connect_auth(&base, Some(json!({"token": tokens[3]})))
        .await
        .expect("raw connect");
    assert_eq!(
        raw.request(1, "subscribe", json!({"variant": v})).await["ok"],
        true
    );
    drop(raw);
    assert!(
        RawSocket::connect_auth(&base, Some(json!({"token": foreign})))
            .await
            .is_err()
    );
    let mut all = tokens;
    all.push(foreign);
    child.kill().await.expect("kill");
    let text = std::fs::read_to_string(&log).expect("read log");
    let _ = std::fs::remove_file(&log);
    db.drop_db().await;
    (text, all)
}

/// Asserts that `text` holds no token (nor its claims or signature part), secret or password.
fn assert_clean(text: &str, tokens: &[String], what: &str) {
    let mut needles = vec![SECRET.to_owned(), DB_PASSWORD.to_owned()];
    for t in tokens {
        // Claims and signature; the header part is the same for every HS256 token.
        needles.extend(t.split('.').skip(1).map(str::to_owned));
    }
    for n in needles {
        if let Some(at) = text.find(&n) {
            let line = text[..at].lines().count();
            panic!("{what}: a secret is printed at line {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_token_secret_or_password_at_trace() {
    for rust_log in [
        "trace",
        "trace,tungstenite::protocol=trace,engineioxide::socket=trace,socketioxide::socket=trace,sqlx_postgres::options=trace",
    ] {
        let (text, tokens) = traffic_log(rust_log).await;
        // The log really is at trace (else the test proves nothing).
        assert!(
            text.contains("TRACE"),
            "RUST_LOG={rust_log}: no trace lines"
        );
        // ... and it covers the traffic: connections at trace, the REST requests and the sockets.
        for needle in ["connection accepted", "/api/variants", "socket"] {
            assert!(
                text.contains(needle),
                "RUST_LOG={rust_log}: the log does not mention {needle:?} ({} lines)",
                text.lines().count()
            );
        }
        assert_clean(&text, &tokens, &format!("RUST_LOG={rust_log}"));
    }
}

#[test]
fn a_refused_secret_is_not_echoed() {
    let dir = std::env::temp_dir().join(unique("sg-secret"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let toml = dir.join("c.toml");
    std::fs::write(&toml, "jwt_secret = \"tooShortQ7\"\n").expect("write");
    let toml_int = dir.join("i.toml");
    std::fs::write(&toml_int, "jwt_secret = 98765432123456789\n").expect("write");
    let toml_ok = dir.join("ok.toml");
    std::fs::write(&toml_ok, "jwt_secret = \"0123456789-long-enough\"\n").expect("write");
    // `signalgate <before..> token --sub x --variants *`, run to completion.
    let token = |before: &[&str], env: Option<&str>| {
        let mut cmd = binary();
        if let Some(secret) = env {
            cmd.env("SIGNALGATE_JWT_SECRET", secret);
        }
        cmd.args(before)
            .args(["token", "--sub", "x", "--variants", "*"])
            .output()
    };
    let (toml, toml_int) = (
        toml.to_str().expect("utf-8"),
        toml_int.to_str().expect("utf-8"),
    );
    let runs = [
        (token(&["--jwt-secret", "tooShortQ7"], None), "flag"),
        (token(&[], Some("tooShortQ7")), "env"),
        (token(&["--config", toml], None), "toml"),
        (token(&["--config", toml_int], None), "toml integer"),
    ];
    for (out, how) in runs {
        let out = out.expect("run");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{how}: accepted\n{all}");
        assert!(
            !all.contains("tooShortQ7") && !all.contains("98765432123456789"),
            "{how}: the secret is echoed:\n{all}"
        );
        assert!(
            all.contains("jwt") && (all.contains("16") || all.contains("string")),
            "{how}: the error says what is wrong:\n{all}"
        );
    }
    // A good secret from the file still works.
    let out = binary()
        .args([
            "--config",
            toml_ok.to_str().expect("utf-8"),
            "token",
            "--sub",
            "x",
            "--variants",
            "*",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
