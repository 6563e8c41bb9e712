//! Limits: the per-instance connection cap and the handshake Origin check refuse with
//! `connect_error` while the gateway keeps serving the others; CORS defaults to no
//! cross-origin access once authentication is on.

use std::time::Duration;

use serde_json::json;
use signalgate::auth::JwtSecret;

use crate::common::{Backend, TestDb, raw_sio::RawSocket, spawn_app_with, unique, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_connections_refuses_the_extra_socket_only() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = spawn_app_with(db, |c| c.limits.max_connections = 2).await;
    let mut first = RawSocket::connect(&app.base).await;
    let second = RawSocket::connect(&app.base).await;
    let refused = match RawSocket::connect_auth(&app.base, None).await {
        Ok(_) => panic!("a third connection was accepted"),
        Err(e) => e,
    };
    let msg = refused["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("too many connections"), "{refused}");
    // The admitted ones keep working.
    let ack = first
        .request(1, "subscribe", json!({"variant": unique("lim")}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    // A closed connection frees its slot.
    drop(second);
    wait_for("a freed slot", Duration::from_secs(20), || async {
        RawSocket::connect_auth(&app.base, None).await.ok()
    })
    .await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handshake_origin_follows_the_cors_allow_list() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = spawn_app_with(db, |c| {
        c.http.cors_origin = vec!["https://desk.example".into()];
    })
    .await;
    let refused = match RawSocket::connect_from(&app.base, Some("https://evil.example"), None).await
    {
        Ok(_) => panic!("a foreign origin connected"),
        Err(e) => e,
    };
    assert_eq!(
        refused["message"],
        "origin not allowed: https://evil.example"
    );
    assert!(
        RawSocket::connect_from(&app.base, Some("https://desk.example"), None)
            .await
            .is_ok()
    );
    // The gateway's own pages (the dashboard) need no entry: their Origin is the Host.
    assert!(
        RawSocket::connect_from(&app.base, Some(&app.base), None)
            .await
            .is_ok(),
        "same-origin handshake refused"
    );
    // Non-browser clients send no Origin.
    assert!(RawSocket::connect_from(&app.base, None, None).await.is_ok());
    let resp = app
        .http
        .get(format!("{}/api/variants", app.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_defaults_to_none_with_auth_and_any_without() {
    for (auth, want) in [(false, Some("*")), (true, None)] {
        let db = TestDb::create(Backend::Sqlite).await;
        let app = spawn_app_with(db, |c| {
            if auth {
                c.auth.jwt_secret = Some(JwtSecret::new("test-secret-0123456789-abcdef"));
            }
        })
        .await;
        let resp = app
            .http
            .get(format!("{}/healthz", app.base))
            .header("origin", "https://any.example")
            .send()
            .await
            .expect("request");
        let got = resp.headers().get("access-control-allow-origin");
        assert_eq!(got.and_then(|v| v.to_str().ok()), want, "auth {auth}");
        let socket = RawSocket::connect_from(&app.base, Some("https://any.example"), None).await;
        let refused = socket.err().map(|e| e["message"].clone());
        if auth {
            assert_eq!(
                refused,
                Some(json!("origin not allowed: https://any.example"))
            );
        } else {
            assert_eq!(refused, None);
        }
        app.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rest_rate_limit_answers_429_and_spares_health() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = spawn_app_with(db, |c| {
        c.limits.rate_limit = 1;
        c.limits.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let resp = app
            .http
            .get(format!("{}/api/variants", app.base))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        if status == 429 {
            let retry = resp.headers().get("retry-after").cloned();
            let secs = retry
                .as_ref()
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            // The bucket refills within 1 s: "0" would invite an immediate retry.
            assert_eq!(
                secs,
                Some(1),
                "429 carries Retry-After in whole seconds >= 1: {retry:?}"
            );
            let body: serde_json::Value = resp.json().await.expect("json");
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429],
        "a burst of 3, then refused"
    );
    // Health probes and Socket.IO are not limited.
    assert_eq!(app.get("/healthz").await.0, reqwest::StatusCode::OK);
    assert!(RawSocket::connect_auth(&app.base, None).await.is_ok());
    // The bucket refills (1 per second).
    wait_for("the bucket to refill", Duration::from_secs(5), || async {
        (app.get("/api/variants").await.0 == reqwest::StatusCode::OK).then_some(())
    })
    .await;
    app.finish().await;
}
