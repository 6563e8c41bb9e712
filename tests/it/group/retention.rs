//! `--retention` in group mode: only the leader prunes, and the schedule moves with the
//! leadership (a new leader prunes at once, the old one stops with it).

use std::time::Duration;

use chrono::Utc;

use super::cluster::Cluster;
use crate::common::{
    Backend, TestDb,
    db::Stmt,
    procs::Gateway,
    unique, wait_for,
    writer::{Writer, ev},
};

/// Writes `n` events created 100 days ago (older than the 90-day retention).
async fn old_events(w: &Writer, variant: &str, from: u64, n: u64) {
    for k in from..from + n {
        let mut e = ev(variant, k, "rb2405.SHFE");
        e.created_at = Utc::now() - chrono::Duration::days(100);
        w.event(&e).await;
    }
}

async fn old_left(db: &TestDb) -> i64 {
    let raw = db.raw(1).await;
    let sql =
        "SELECT count(*) FROM monitor_signal_event WHERE created_at < now() - interval '90 days'";
    let rows = raw.ints(Stmt::new(sql, Vec::new())).await.expect("count");
    raw.close().await;
    rows.first().and_then(|r| r.first()).copied().unwrap_or(-1)
}

/// `signalgate_events_pruned_total` from the gateway's `/metrics` (0 if absent).
async fn pruned(gw: &Gateway) -> u64 {
    let Ok(resp) = reqwest::get(format!("{}/metrics", gw.base)).await else {
        return 0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("signalgate_events_pruned_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn log_of(gw: &Gateway) -> String {
    std::fs::read_to_string(&gw.log).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_runs_on_the_leader_only() {
    let mut cl = Cluster::new(Backend::Postgres, false).await;
    let s = cl.db.store().await;
    s.migrate().await.expect("migrate");
    let w = Writer::connect(&cl.db, 1).await;
    let v = unique("gret");
    old_events(&w, &v, 0, 5).await;
    let env = [("SIGNALGATE_RETENTION", "90d")];
    cl.add(&env).await;
    cl.add(&env).await;
    let (leader, term) = cl.wait_one_leader(0, Duration::from_secs(15)).await;
    let follower = 1 - leader;
    let (l, f) = (&cl.gws[leader], &cl.gws[follower]);
    wait_for("the leader to prune", Duration::from_secs(20), || async {
        (pruned(l).await == 5 && old_left(&cl.db).await == 0).then_some(())
    })
    .await;
    assert!(log_of(l).contains("group leader: pruning old events every hour"));
    assert_eq!(pruned(f).await, 0, "the follower pruned nothing");
    assert!(
        !log_of(f).contains("pruning old events"),
        "the follower has no retention schedule"
    );

    // Old events written now stay until the leadership moves: the follower does not prune.
    old_events(&w, &v, 100, 3).await;
    assert_eq!(old_left(&cl.db).await, 3);
    cl.gws[leader].terminate();
    cl.gws[leader].wait_exit().await;
    let (next, _) = cl.wait_one_leader(term, Duration::from_secs(15)).await;
    assert_eq!(next, follower);
    let n = &cl.gws[next];
    wait_for(
        "the new leader to prune",
        Duration::from_secs(20),
        || async { (pruned(n).await == 3 && old_left(&cl.db).await == 0).then_some(()) },
    )
    .await;
    assert!(log_of(n).contains("group leader: pruning old events every hour"));
    assert_eq!(s.pruned_upto(&v).await.expect("read"), 8);
    s.close().await;
    cl.finish().await;
}
