//! The overview in group mode with real processes: two gateways on one database and a private
//! Redis; a client of the follower (which polls nothing) gets the `overview_update` of a
//! variant whose snapshot and event the leader read, and the follower's `/api/overview` lists
//! it: every instance builds the summaries from the bus messages it applies.

use std::time::Duration;

use serde_json::json;

use super::cluster::Cluster;
use crate::common::{
    Backend,
    sio::{Msg, Sio},
    unique, wait_for,
    writer::{Writer, ev},
};

const WAIT: Duration = Duration::from_secs(15);

pub async fn overview_reaches_the_followers_clients(b: Backend) {
    let mut cl = Cluster::new(b, false).await;
    for _ in 0..2 {
        cl.add(&[("SIGNALGATE_OVERVIEW_INTERVAL_MS", "200")]).await;
    }
    let (leader, _) = cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let follower = 1 - leader;
    let base = cl.gws[follower].base.clone();
    let mut c = Sio::connect(&base).await;
    let ack = c.request("subscribe_overview", json!({})).await;
    assert_eq!(ack["ok"], true, "{ack}");

    let variant = unique("gov");
    let w = Writer::connect(&cl.db, 2).await;
    w.snapshot(
        &variant,
        "i1",
        &json!({"instruments": {"a.X": {"dull_top": true}}}),
    )
    .await;
    w.event(&ev(&variant, 1, "a.X")).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Overview(u)) => {
                let mine = u["variants"]
                    .as_array()
                    .and_then(|l| l.iter().find(|s| s["variant"] == variant.as_str()).cloned());
                if let Some(s) = mine.filter(|s| s["last_seq"] == 1 && s["instances"] == 1) {
                    assert_eq!(s["lights"]["dull_top"], 1, "{s}");
                    break;
                }
            }
            Some(Msg::Closed) | None => panic!("no overview_update for {variant} on the follower"),
            Some(_) => {}
        }
    }
    let http = reqwest::Client::new();
    wait_for("the follower's REST overview", WAIT, || async {
        let body: serde_json::Value = http
            .get(format!("{base}/api/overview"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["variants"]
            .as_array()?
            .iter()
            .any(|s| s["variant"] == variant.as_str() && s["last_event"]["event_type"] == "signal")
            .then_some(())
    })
    .await;
    c.close().await;
    cl.finish().await;
}
