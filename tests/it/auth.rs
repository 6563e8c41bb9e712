//! Authentication: REST 401/403 and the filtered variant list on every backend; Socket.IO
//! refused handshakes, forbidden subscribes and token expiry; the `token` subcommand; the
//! refusal to serve a public address without authentication.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signalgate::{
    Application, BuildOptions,
    auth::{ClaimRules, JwtSecret, Verifier, mint},
    config::AuthConfig,
};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::{TestApp, test_config},
        raw_sio::RawSocket,
        sio::{Mode, Sio},
        spawn_app_with, unique,
        writer::Writer,
    },
};

backend_tests!(rest_needs_a_token_and_sees_only_granted_variants);

const SECRET: &str = "test-secret-0123456789-abcdef";

fn secret() -> JwtSecret {
    JwtSecret::new(SECRET)
}

pub(crate) fn token(variants: &[&str], ttl: Duration) -> String {
    let variants = variants.iter().map(|v| (*v).to_owned()).collect();
    mint(&secret(), "tester", variants, ttl).expect("mint")
}

/// A well-formed token signed with another secret.
fn foreign_token() -> String {
    let other = JwtSecret::new("another-secret-0123456789");
    mint(&other, "x", vec!["*".into()], Duration::from_secs(60)).expect("mint")
}

pub(crate) async fn auth_app(backend: Backend) -> TestApp {
    let db = TestDb::create(backend).await;
    spawn_app_with(db, |c| c.auth.jwt_secret = Some(secret())).await
}

async fn get_with(app: &TestApp, path: &str, bearer: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.http.get(format!("{}{path}", app.base));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            resp.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..]),
            "{path}: 401 names the scheme"
        );
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn rest_needs_a_token_and_sees_only_granted_variants(backend: Backend) {
    let app = auth_app(backend).await;
    let prefix = unique("grant");
    let (mine_a, mine_b, theirs) = (
        format!("{prefix}_a"),
        format!("{prefix}_b"),
        unique("other"),
    );
    let w = Writer::connect(&app.db, 2).await;
    for v in [&mine_a, &mine_b, &theirs] {
        w.snapshot(v, "i1", &json!({"v": v})).await;
    }
    crate::common::wait_for("the snapshots to be live", Duration::from_secs(20), || {
        let n = app.hub.snapshots(&theirs, None).len();
        async move { (n == 1).then_some(()) }
    })
    .await;

    // No token, a garbage token, a token signed with another secret, an expired token: 401.
    let foreign = foreign_token();
    let expired = token(&["*"], Duration::ZERO);
    for bearer in [None, Some("not-a-jwt"), Some(foreign.as_str())] {
        for path in [
            "/api/variants".to_owned(),
            format!("/api/snapshot/{mine_a}"),
            format!("/api/events/{mine_a}"),
            "/api/bars?vt_symbol=rb.SHFE&interval=1m".to_owned(),
        ] {
            let (status, body) = get_with(&app, &path, bearer).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} {bearer:?}: {body}"
            );
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    // `exp` is now: expired within the second (no leeway).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = get_with(&app, "/api/variants", Some(&expired)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "token expired");

    // A glob grant: only the matching variants are listed and readable.
    let t = token(&[&format!("{prefix}_*")], Duration::from_secs(600));
    let (status, body) = get_with(&app, "/api/variants", Some(&t)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut listed: Vec<&str> = body["variants"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v["variant"].as_str())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, [mine_a.as_str(), mine_b.as_str()]);
    for v in [&mine_a, &mine_b] {
        assert_eq!(
            get_with(&app, &format!("/api/snapshot/{v}"), Some(&t))
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            get_with(&app, &format!("/api/events/{v}"), Some(&t))
                .await
                .0,
            StatusCode::OK
        );
    }
    for path in [
        format!("/api/snapshot/{theirs}"),
        format!("/api/events/{theirs}"),
    ] {
        let (status, body) = get_with(&app, &path, Some(&t)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    // `*` sees everything; health probes need no token.
    let all = token(&["*"], Duration::from_secs(600));
    let (_, body) = get_with(&app, "/api/variants", Some(&all)).await;
    assert!(
        body["variants"].as_array().expect("list").len() >= 3,
        "{body}"
    );
    assert_eq!(get_with(&app, "/readyz", None).await.0, StatusCode::OK);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socket_handshake_needs_a_valid_token() {
    let app = auth_app(Backend::Sqlite).await;
    let foreign = foreign_token();
    let cases = [
        (None, "authentication required"),
        (Some(json!({})), "authentication required"),
        (Some(json!({"token": 5})), "authentication required"),
        (Some(json!({"token": "nope"})), "invalid token"),
        (
            Some(json!({"token": foreign})),
            "invalid token: bad signature",
        ),
    ];
    for (auth, want) in cases {
        let refused = match RawSocket::connect_auth(&app.base, auth.clone()).await {
            Ok(_) => panic!("{auth:?}: connected without a valid token"),
            Err(e) => e,
        };
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(want), "{auth:?}: {refused}");
        assert!(
            !message.contains("eyJ"),
            "the token is never echoed: {message}"
        );
    }
    assert_eq!(app.io.sockets().len(), 0, "refused sockets never join");
    let t = token(&["*"], Duration::from_secs(600));
    let raw = RawSocket::connect_auth(&app.base, Some(json!({"token": t}))).await;
    assert!(raw.is_ok(), "a valid token connects");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribe_outside_the_grants_is_forbidden() {
    let app = auth_app(Backend::Sqlite).await;
    let prefix = unique("sub");
    let t = token(
        &[&format!("{prefix}_*"), "exact_one"],
        Duration::from_secs(600),
    );
    let c = Sio::connect_with(&app.base, Mode::Normal, Some(json!({"token": t}))).await;
    let ok = c.subscribe(json!({"variant": format!("{prefix}_x")})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let ok = c.subscribe(json!({"variant": "exact_one"})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    for v in [unique("other"), "exact_one_more".to_owned(), prefix.clone()] {
        let no = c.subscribe(json!({"variant": v})).await;
        assert_eq!(no["ok"], false, "{v}: {no}");
        assert_eq!(no["error"]["code"], "forbidden", "{no}");
    }
    // The socket keeps working after a refusal.
    let ok = c.subscribe(json!({"variant": format!("{prefix}_y")})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    c.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expiring_token_closes_its_socket_with_a_reason() {
    let app = auth_app(Backend::Sqlite).await;
    let short = token(&["*"], Duration::from_secs(2));
    let long = token(&["*"], Duration::from_secs(600));
    let mut expiring = RawSocket::connect_auth(&app.base, Some(json!({"token": short})))
        .await
        .expect("connects");
    let mut lasting = RawSocket::connect_auth(&app.base, Some(json!({"token": long})))
        .await
        .expect("connects");
    let v = unique("exp");
    let ack = expiring
        .request(1, "subscribe", json!({"variant": v}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    // Within the read timeout: the auth_expired notice, then the DISCONNECT packet.
    let frame = expiring.recv().await.expect("auth_expired");
    let notice: Value =
        serde_json::from_str(frame.strip_prefix("42").expect("event")).expect("json");
    assert_eq!(notice[0], "auth_expired", "{frame}");
    assert_eq!(notice[1]["code"], "token_expired", "{frame}");
    assert_eq!(
        expiring.recv().await.as_deref(),
        Some("41"),
        "then disconnected"
    );
    // The other socket is untouched.
    let ack = lasting.request(1, "subscribe", json!({"variant": v})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn public_listen_needs_auth_or_allow_anonymous() {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.http.listen = "0.0.0.0:0".parse().expect("addr");
    let err = Application::build(config.clone(), BuildOptions::default())
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("--allow-anonymous") && err.contains("--jwt-secret"),
        "{err}"
    );
    config.auth.allow_anonymous = true;
    let app = Application::build(config.clone(), BuildOptions::default())
        .await
        .expect("opted in");
    app.tasks().shutdown(Duration::from_secs(10)).await;
    config.auth = AuthConfig {
        jwt_secret: Some(secret()),
        ..AuthConfig::default()
    };
    let app = Application::build(config, BuildOptions::default())
        .await
        .expect("with auth");
    app.tasks().shutdown(Duration::from_secs(10)).await;

    // The binary says why and exits non-zero.
    let out = crate::common::binary()
        .args(["--listen", "0.0.0.0:0", "--database-url", &db.url, "serve"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0"),
        "{stderr}"
    );
    db.drop_db().await;
}

#[test]
fn token_subcommand_mints_a_verifiable_token() {
    let mut cmd = crate::common::binary();
    cmd.env("SIGNALGATE_JWT_SECRET", SECRET).args([
        "token",
        "--sub",
        "ops",
        "--variants",
        "trend_*,mm_a",
        "--ttl",
        "2h",
    ]);
    let printed = crate::common::stdout_of(&mut cmd).trim().to_owned();
    let verifier = Verifier::new(Some(&secret()), None, ClaimRules::default())
        .expect("config")
        .expect("enabled");
    let verified = verifier.verify(&printed).expect("valid");
    assert_eq!(
        (verified.sub.as_str(), verified.variants.clone()),
        ("ops", vec!["trend_*".to_owned(), "mm_a".to_owned()])
    );
    let ttl = verified
        .left(std::time::SystemTime::now())
        .expect("expires")
        .as_secs();
    assert!((7190..=7200).contains(&ttl), "exp is 2 h away: {ttl}");

    let out = crate::common::binary()
        .args(["token", "--sub", "ops", "--variants", "*"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jwt-secret"));
}
