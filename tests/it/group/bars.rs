//! Live bars in group mode with real processes: three gateways on one database and a private
//! Redis. Clients on the followers get `bar_update`s that the leader alone polls (its
//! `signalgate_bar_polls_total` grows, the followers' stay 0); after the leader stops the next
//! one takes over and a new bar still arrives, once; when nobody follows any more the interest
//! expires in Redis and the leader stops reading bars. While Redis is away each instance polls
//! its own clients' series; once it is back only the leader does again.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cluster::Cluster;
use crate::{
    bars::write_bar,
    common::{
        Backend,
        sio::{Msg, Sio},
        unique, wait_for,
    },
};

const WAIT: Duration = Duration::from_secs(15);
const BAR_POLL_MS: u64 = 100;
const POLLS: &str = "signalgate_bar_polls_total";

/// The next `bar_update`, which must carry `close` (other pushes are ignored).
async fn next_bar(c: &mut Sio, close: f64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Bar(b)) => {
                assert_eq!(b["bar"]["close"], close, "unexpected bar_update {b}");
                return b;
            }
            Some(Msg::Closed) | None => panic!("no bar_update with close {close} within {WAIT:?}"),
            Some(_) => {}
        }
    }
}

/// Waits until gateway `i` has polled bars `more` times beyond `from`.
async fn polled(cl: &Cluster, i: usize, from: f64, more: f64) -> f64 {
    wait_for("bar polls on the leader", WAIT, || async {
        let n = cl.gws[i].metric(POLLS).await;
        (n >= from + more).then_some(n)
    })
    .await
}

/// A group of `n` gateways polling bars every `BAR_POLL_MS`.
async fn bar_cluster(b: Backend, n: usize) -> Cluster {
    let mut cl = Cluster::new(b, false).await;
    let ms = BAR_POLL_MS.to_string();
    for _ in 0..n {
        cl.add(&[("SIGNALGATE_BARS_POLL_INTERVAL_MS", &ms)]).await;
    }
    cl
}

pub async fn live_bars_are_polled_by_the_leader_only(b: Backend) {
    let mut cl = bar_cluster(b, 3).await;
    let (leader, term) = cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let store = cl.db.store().await;
    let symbol = format!("{}.SHFE", unique("lb"));
    let req = json!({"vt_symbol": symbol, "interval": "1m"});
    write_bar(&store, &symbol, 0, 100.0).await;
    assert_eq!(
        cl.gws[leader].metric(POLLS).await,
        0.0,
        "nothing followed: nothing polled"
    );

    // One client per follower. The first paint is each instance's own read; the leader's
    // first publish of that bar is not pushed again.
    let mut clients = Vec::new();
    for &f in &followers {
        let c = Sio::connect(&cl.gws[f].base).await;
        let ack = c.request("subscribe_bars", req.clone()).await;
        assert_eq!(ack["ok"], true, "{ack}");
        assert_eq!(ack["bar"]["close"], 100.0, "{ack}");
        let seen = cl.gws[leader].metric(POLLS).await;
        polled(&cl, leader, seen, 2.0).await;
        clients.push(c);
    }

    // A new bar reaches both, polled by the leader alone.
    let t = Instant::now();
    write_bar(&store, &symbol, 1, 101.0).await;
    for c in &mut clients {
        let u = next_bar(c, 101.0).await;
        assert_eq!(u["vt_symbol"], symbol.as_str());
        assert_eq!(u["interval"], "1m");
    }
    eprintln!(
        "MEASURED {b:?} bar written -> bar_update on both followers: {} ms (bars poll every {BAR_POLL_MS} ms)",
        t.elapsed().as_millis()
    );
    assert!(cl.gws[leader].metric(POLLS).await > 0.0);
    for &f in &followers {
        assert_eq!(
            cl.gws[f].metric(POLLS).await,
            0.0,
            "follower {f} polled bars"
        );
    }

    // The leader stops: the next one takes over bar polling. Its first polls publish 101 again
    // (it knows nothing yet); nobody pushes it twice, so the next push is 102.
    cl.gws[leader].terminate();
    cl.gws[leader].wait_exit().await;
    let t = Instant::now();
    let (next, _) = cl.wait_one_leader(term, Duration::from_secs(10)).await;
    polled(&cl, next, 0.0, 3.0).await;
    eprintln!(
        "MEASURED {b:?} new leader polling bars {} ms after the old one exited",
        t.elapsed().as_millis()
    );
    write_bar(&store, &symbol, 2, 102.0).await;
    for c in &mut clients {
        next_bar(c, 102.0).await;
    }
    for &f in followers.iter().filter(|f| **f != next) {
        assert_eq!(
            cl.gws[f].metric(POLLS).await,
            0.0,
            "follower {f} polled bars"
        );
    }
    for c in &mut clients {
        let again: Vec<Msg> = c
            .drain()
            .into_iter()
            .filter(|m| matches!(m, Msg::Bar(_)))
            .collect();
        assert!(again.is_empty(), "pushed twice: {again:?}");
    }

    // Nobody follows any more: the interest expires and the leader stops reading bars.
    for c in clients {
        c.close().await;
    }
    let key = format!("signalgate:{{{}}}:bars:interest", cl.args.group);
    let t = Instant::now();
    wait_for("the bar interest to expire", WAIT, || async {
        (!cl.redis.exists(&key).await).then_some(())
    })
    .await;
    eprintln!(
        "MEASURED {b:?} bar interest gone {} ms after the last client left",
        t.elapsed().as_millis()
    );
    stops_polling(
        &cl,
        next,
        "the leader to stop polling bars",
        "polled for nobody",
    )
    .await;
    cl.finish().await;
}

/// Waits until instance `i` reads no bar series, then checks it makes no bar poll for five
/// poll intervals.
async fn stops_polling(cl: &Cluster, i: usize, waiting_for: &str, polled: &str) {
    wait_for(waiting_for, WAIT, || async {
        (cl.gws[i].metric("signalgate_bar_series_polled").await == 0.0).then_some(())
    })
    .await;
    let before = cl.gws[i].metric(POLLS).await;
    // The measurement window itself: five poll intervals without a bar poll.
    tokio::time::sleep(Duration::from_millis(BAR_POLL_MS * 5)).await;
    assert_eq!(cl.gws[i].metric(POLLS).await, before, "{polled}");
}

pub async fn live_bars_survive_a_redis_outage(b: Backend) {
    let mut cl = bar_cluster(b, 2).await;
    let (leader, _) = cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let f = 1 - leader;
    let store = cl.db.store().await;
    let symbol = format!("{}.SHFE", unique("lb"));
    write_bar(&store, &symbol, 0, 100.0).await;
    let mut c = Sio::connect(&cl.gws[f].base).await;
    let ack = c
        .request(
            "subscribe_bars",
            json!({"vt_symbol": symbol, "interval": "1m"}),
        )
        .await;
    assert_eq!(ack["bar"]["close"], 100.0, "{ack}");

    // Redis away: every instance polls its own clients' series, as a standalone gateway.
    cl.redis.kill().await;
    wait_for("every instance degraded", WAIT, || async {
        let roles = cl.roles().await;
        (roles.len() == 2 && roles.iter().all(|r| r.1 == "degraded")).then_some(())
    })
    .await;
    write_bar(&store, &symbol, 1, 101.0).await;
    next_bar(&mut c, 101.0).await;
    assert!(
        cl.gws[f].metric(POLLS).await > 0.0,
        "the degraded follower polls"
    );

    // Redis back: one leader polls again, for the group; the bar arrives once.
    cl.redis.restart().await;
    let (leader, _) = cl.wait_one_leader(0, Duration::from_secs(15)).await;
    let follower = 1 - leader;
    polled(&cl, leader, cl.gws[leader].metric(POLLS).await, 3.0).await;
    write_bar(&store, &symbol, 2, 102.0).await;
    next_bar(&mut c, 102.0).await;
    stops_polling(
        &cl,
        follower,
        "the follower to stop polling bars",
        "a follower polled bars",
    )
    .await;
    let again: Vec<Msg> = c
        .drain()
        .into_iter()
        .filter(|m| matches!(m, Msg::Bar(_)))
        .collect();
    assert!(again.is_empty(), "pushed twice: {again:?}");
    c.close().await;
    cl.finish().await;
}
