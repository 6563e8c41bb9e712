//! `deploy/nginx.conf` with authentication on: a page served through nginx connects its
//! Socket.IO client from its own origin (the nginx address), with a token, and receives events.
//! With authentication on, `--cors-origin` defaults to none, so the gateway admits that
//! handshake only as same-origin: the `Host` nginx forwards (every location, with the port)
//! must equal the page's `Origin`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use signalgate::auth::{JwtSecret, mint};

use super::cluster::Cluster;
use crate::common::{
    Backend,
    raw_sio::RawSocket,
    unique, wait_for,
    writer::{Writer, ev},
};

const SECRET: &str = "nginx-auth-secret-0123456789-abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_origin_clients_with_a_token_connect_through_nginx() {
    let mut cl = Cluster::new(Backend::Postgres, false).await;
    cl.add(&[("SIGNALGATE_JWT_SECRET", SECRET)]).await;
    let base = cl.start_nginx().await;
    let v = unique("gnx");
    let w = Writer::connect(&cl.db, 1).await;
    w.snapshot(&v, "inst-01", &json!({"pos": 1})).await;
    let token = mint(
        &JwtSecret::new(SECRET),
        "nginx-test",
        vec!["gnx*".into()],
        Duration::from_secs(600),
    )
    .expect("mint");

    // REST through nginx (location /): the token is honoured.
    let http = reqwest::Client::new();
    let url = format!("{base}/api/snapshot/{v}");
    wait_for(
        "the snapshot over REST through nginx",
        Duration::from_secs(10),
        || async {
            let resp = http.get(&url).bearer_auth(&token).send().await.ok()?;
            (resp.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    let anonymous = http.get(&url).send().await.expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "auth is on");

    // A foreign page is still refused: the same-origin rule did not become "any origin".
    let foreign = RawSocket::connect_from(
        &base,
        Some("https://evil.example"),
        Some(json!({"token": token})),
    )
    .await;
    assert_eq!(
        foreign.err().map(|e| e["message"].clone()),
        Some(json!("origin not allowed: https://evil.example"))
    );

    // The page's own origin (nginx's address, with its port) is admitted.
    let mut page =
        match RawSocket::connect_from(&base, Some(&base), Some(json!({"token": token}))).await {
            Ok(s) => s,
            Err(refused) => panic!("same-origin client through nginx refused: {refused}"),
        };
    let ack = page.request(1, "subscribe", json!({"variant": v})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    for n in 0..3 {
        w.event(&ev(&v, n, "rb2405.SHFE")).await;
    }
    let mut seqs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while seqs.len() < 3 {
        let frame = tokio::time::timeout_at(deadline, page.recv())
            .await
            .expect("3 events within 15 s")
            .expect("connection open");
        let Some(body) = frame.strip_prefix("42") else {
            continue;
        };
        let msg: serde_json::Value = serde_json::from_str(body).expect("event json");
        if msg[0] == "event_new" {
            seqs.push(msg[1]["seq"].as_i64().expect("seq"));
        }
    }
    assert_eq!(
        seqs,
        vec![1, 2, 3],
        "every event once, in order, through nginx"
    );
    cl.finish().await;
}
