//! Group mode with real processes: three gateway processes (the cargo-built binary) on one
//! database, a private `redis-server`, `nginx` rendering `deploy/nginx.conf`, 60 Socket.IO
//! clients through nginx and 8 concurrent out-of-order writers; on MariaDB and PostgreSQL.
//!
//! * one poller: the database's own counters with 3 instances ≈ with 1;
//! * `kill -9` of the leader mid-stream, then SIGTERM of the next one: new leaders within the
//!   lease TTL (resp. at once), every client ends with every event exactly once, in order;
//! * Redis killed for longer than the TTL and started again: the same, and one leader again;
//! * start with Redis down (degraded), join when it comes up, and a follower that drops
//!   messages on purpose is repaired by the heartbeat within ~2 s while the variant is quiet;
//! * live bars: only the leader polls them, the next leader takes over, interest expires, and
//!   while Redis is away every instance polls its own clients' series ([`bars`]);
//! * the overview: a follower's clients get `overview_update`s ([`overview`]).
//!
//! The heavy tests take turns (one semaphore) so timings are not measured on a starved CPU.
//! Measured numbers are printed with a `MEASURED` prefix (`cargo test ... -- --nocapture`).

mod bars;
mod cluster;
mod nginx_auth;
mod overview;
mod retention;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::{Semaphore, watch};

use crate::common::{
    Backend,
    sio::{Msg, Sio, seq},
    unique, wait_for,
    writer::{Writer, ev, write_paced},
};
use bars::{live_bars_are_polled_by_the_leader_only, live_bars_survive_a_redis_outage};
use cluster::{Cluster, TTL_MS, assert_exactly_once, db_rate, follow, subscribe, unix_ms};
use overview::overview_reaches_the_followers_clients;

/// One heavy (3-process, 60-client) scenario at a time.
static HEAVY: Semaphore = Semaphore::const_new(1);

const CLIENTS: usize = 60;
const WRITERS: u64 = 8;
const LONG: Duration = Duration::from_secs(90);

macro_rules! server_backend_tests {
    ($($name:ident),* $(,)?) => {
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(crate::common::Backend::MySql).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(crate::common::Backend::Postgres).await }) *
        }
    };
}

server_backend_tests!(
    one_poller_failover_and_handover_exactly_once,
    redis_outage_degrades_and_rejoins_exactly_once,
    starts_degraded_joins_and_heartbeat_repairs_lost_messages,
    live_bars_are_polled_by_the_leader_only,
    live_bars_survive_a_redis_outage,
    overview_reaches_the_followers_clients,
);

/// 60 clients through nginx, each announcing its own address so the hash spreads them.
async fn clients(
    base: &str,
    variant: &str,
    target: &watch::Receiver<i64>,
) -> Vec<tokio::task::JoinHandle<cluster::Followed>> {
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let addr = format!("10.7.{}.{}", i / 200, i % 200 + 1);
        let (c, head) = subscribe(base, &addr, variant).await;
        let (base, v, t) = (base.to_owned(), variant.to_owned(), target.clone());
        tasks.push(tokio::spawn(follow(c, head, base, addr, v, t, LONG)));
    }
    tasks
}

/// Tells the clients where the stream ends (the database's last seq), waits for them and checks
/// that each got every event after its start exactly once; returns the reconnects.
async fn check_clients(
    tasks: Vec<tokio::task::JoinHandle<cluster::Followed>>,
    target: watch::Sender<i64>,
    w: &Writer,
    variant: &str,
) -> u32 {
    let all: Vec<i64> = w.seqs(variant).await.into_iter().map(|(s, _)| s).collect();
    target
        .send(all.last().copied().unwrap_or(0))
        .expect("clients listen");
    let mut reconnects = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let f = t.await.expect("client task");
        assert_exactly_once(&f, &all, &format!("client {i}"));
        reconnects += f.reconnects;
    }
    reconnects
}

async fn one_poller_failover_and_handover_exactly_once(b: Backend) {
    let _turn = HEAVY.acquire().await.expect("semaphore");
    let mut cl = Cluster::new(b, false).await;
    // MariaDB's counter is server-wide (other tests add to it): a fast idle poll makes this
    // group's share dominate. PostgreSQL counts this database alone.
    // Three pollers would triple the rate; the bound sits well below that.
    let (interval, floor, bound) = match b {
        // One statement per idle poll (10 ms apart plus the poll itself).
        Backend::MySql => (10, 40.0, 2.0),
        _ => (50, 10.0, 1.5),
    };
    cl.args.poll_interval_ms = interval;
    cl.add(&[]).await;
    cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let one = db_rate(&cl.db).await;
    cl.add(&[]).await;
    cl.add(&[]).await;
    let (leader, term) = cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let three = db_rate(&cl.db).await;
    eprintln!(
        "MEASURED {b:?} database work/s while idle (poll every {interval} ms): 1 instance {one:.1}, 3 instances {three:.1}"
    );
    assert!(one > floor, "the leader polls: {one:.1}/s");
    assert!(
        three < one * bound,
        "3 instances must poll like 1: {three:.1}/s vs {one:.1}/s"
    );

    let base = cl.start_nginx().await;
    let v = unique("grp");
    let (target_tx, target) = watch::channel(0i64);
    let tasks = clients(&base, &v, &target).await;

    // Mid-stream: kill -9 the leader once a quarter of the events is in.
    let n = 2400;
    let (w, written, writer) = write_in_background(&cl, &v, n).await;
    let killed = unix_ms();
    cl.gws[leader].kill().await;
    let failover = cl.time_to_new_leader(term, killed).await;
    eprintln!(
        "MEASURED {b:?} failover after kill -9: {} ms (lease {TTL_MS} ms)",
        failover.as_millis()
    );
    assert!(
        failover < Duration::from_millis(TTL_MS + 500),
        "new leader within the lease TTL: {failover:?}"
    );
    assert_eq!(writer.await.expect("writer"), n);
    let reconnects = check_clients(tasks, target_tx, &w, &v).await;
    eprintln!("MEASURED {b:?} {reconnects} client reconnects after the kill");
    assert!(
        reconnects > 0,
        "clients of the killed instance reconnected through nginx"
    );

    // SIGTERM of the new leader: it releases the lease and a follower takes over at once.
    let (leader, term) = cl.wait_one_leader(term, Duration::from_secs(10)).await;
    let (target_tx, target) = watch::channel(0i64);
    let tasks = clients(&base, &v, &target).await;
    let sent = unix_ms();
    cl.gws[leader].terminate();
    let handover = cl.time_to_new_leader(term, sent).await;
    eprintln!(
        "MEASURED {b:?} hand-over after SIGTERM: {} ms",
        handover.as_millis()
    );
    assert!(
        handover < Duration::from_millis(TTL_MS / 2),
        "hand-over well under the TTL: {handover:?}"
    );
    cl.gws[leader].wait_exit().await;
    let more = write_paced(w.clone(), &v, (WRITERS, 400, 1_000_000), 400.0, written).await;
    assert_eq!(more, 400);
    check_clients(tasks, target_tx, &w, &v).await;
    cl.finish().await;
}

/// Starts `WRITERS` paced writers of `n` events on `v` in the background (400 events/s) and
/// returns once a quarter of them is written: the writer, the running count and the task.
async fn write_in_background(
    cl: &Cluster,
    v: &str,
    n: u64,
) -> (Arc<Writer>, Arc<AtomicU64>, tokio::task::JoinHandle<u64>) {
    let w = Arc::new(Writer::connect(&cl.db, WRITERS as u32 + 2).await);
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (w, v, written) = (w.clone(), v.to_owned(), written.clone());
        tokio::spawn(async move { write_paced(w, &v, (WRITERS, n, 0), 400.0, written).await })
    };
    wait_for("a quarter of the events", LONG, || async {
        (written.load(Ordering::SeqCst) >= n / 4).then_some(())
    })
    .await;
    (w, written, writer)
}

async fn redis_outage_degrades_and_rejoins_exactly_once(b: Backend) {
    let _turn = HEAVY.acquire().await.expect("semaphore");
    let mut cl = Cluster::new(b, false).await;
    for _ in 0..3 {
        cl.add(&[]).await;
    }
    let (_, term) = cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let base = cl.start_nginx().await;
    let v = unique("out");
    let (target_tx, target) = watch::channel(0i64);
    let tasks = clients(&base, &v, &target).await;

    let n = 2400;
    let (w, _written, writer) = write_in_background(&cl, &v, n).await;
    cl.redis.kill().await;
    let down = Instant::now();
    wait_for(
        "every instance degraded",
        Duration::from_secs(10),
        || async {
            let roles = cl.roles().await;
            (roles.len() == 3 && roles.iter().all(|r| r.1 == "degraded")).then_some(())
        },
    )
    .await;
    eprintln!(
        "MEASURED {b:?} all instances degraded {} ms after Redis died",
        down.elapsed().as_millis()
    );
    // The outage itself: longer than the lease, so the old lease cannot survive it.
    tokio::time::sleep(Duration::from_millis(TTL_MS + 1000).saturating_sub(down.elapsed())).await;
    cl.redis.restart().await;
    let up = Instant::now();
    let (_, new_term) = cl.wait_one_leader(0, Duration::from_secs(15)).await;
    eprintln!(
        "MEASURED {b:?} one leader again {} ms after Redis restarted",
        up.elapsed().as_millis()
    );
    assert!(
        new_term > term,
        "a fresh term after the restart ({new_term} > {term})"
    );
    assert_eq!(writer.await.expect("writer"), n);
    let reconnects = check_clients(tasks, target_tx, &w, &v).await;
    assert_eq!(reconnects, 0, "no instance dropped its clients");
    for g in &cl.gws {
        assert_eq!(g.counter("degraded_entries").await, 1, "degraded once");
    }
    cl.finish().await;
}

async fn starts_degraded_joins_and_heartbeat_repairs_lost_messages(b: Backend) {
    let mut cl = Cluster::new(b, true).await;
    let w = Writer::connect(&cl.db, 2).await;
    let v = unique("rep");

    // Redis is down: the first instance serves from its own polling.
    let a = cl.add(&[]).await;
    assert_eq!(cl.gws[a].role().await.expect("role").0, "degraded");
    let mut ca = Sio::connect(&cl.gws[a].base).await;
    assert_eq!(ca.subscribe(json!({"variant": v})).await["ok"], true);
    w.event(&ev(&v, 1, "rb2405.SHFE")).await;
    ca.events_until(LONG, |e| e.len() == 1).await;

    // Redis comes up: the instance joins and leads.
    cl.redis.restart().await;
    let up = Instant::now();
    cl.wait_one_leader(0, Duration::from_secs(10)).await;
    eprintln!(
        "MEASURED {b:?} degraded -> leader {} ms after Redis started",
        up.elapsed().as_millis()
    );

    // A follower that drops every 2nd event/snapshot message it receives.
    let f = cl.add(&[("SIGNALGATE_REDIS_TEST_DROP_EVERY", "2")]).await;
    cl.wait_one_leader(0, Duration::from_secs(10)).await;
    let mut cf = Sio::connect(&cl.gws[f].base).await;
    let ack = cf.subscribe(json!({"variant": v})).await;
    assert_eq!(ack["seq"], 1, "{ack}");

    let mut repairs = Vec::new();
    for n in 2..=3u64 {
        // Message 1 passes, message 2 is dropped; nothing else is written meanwhile.
        let t = Instant::now();
        w.event(&ev(&v, n, "rb2405.SHFE")).await;
        let got = cf.events_until(LONG, |e| !e.is_empty()).await;
        assert_eq!(got.iter().map(seq).collect::<Vec<_>>(), vec![n as i64]);
        repairs.push(t.elapsed());
        ca.events_until(LONG, |e| e.len() == 1).await;
    }
    for k in 1..=2 {
        let t = Instant::now();
        w.snapshot(&v, "inst-01", &json!({"k": k})).await;
        let Some(Msg::Snapshot(snap)) = cf.next(LONG).await else {
            panic!("expected a snapshot update");
        };
        assert_eq!(snap["payload"]["k"], k);
        repairs.push(t.elapsed());
    }
    let ms: Vec<u128> = repairs.iter().map(Duration::as_millis).collect();
    eprintln!(
        "MEASURED {b:?} delivery ms on the dropping follower (event ok, event lost, snapshot ok, snapshot lost): {ms:?}"
    );
    for lost in [repairs[1], repairs[3]] {
        assert!(
            lost < Duration::from_millis(2500),
            "repaired within ~2 s: {lost:?}"
        );
    }
    assert!(cf.drain().is_empty(), "nothing twice");
    assert_eq!(cl.gws[f].counter("test_dropped").await, 2);
    assert!(cl.gws[f].counter("repairs").await >= 2);
    assert_eq!(cl.gws[a].counter("degraded_entries").await, 1);
    ca.close().await;
    cf.close().await;
    cl.finish().await;
}
