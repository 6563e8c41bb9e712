//! Retention on every backend: `prune` deletes exactly the events older than the horizon, in
//! batches, while a writer keeps writing; snapshots stay; a resume from before the horizon gets
//! `history_pruned`; the `prune` subcommand's dry run and progress.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use signalgate::retention::{horizon, prune};
use tokio_util::sync::CancellationToken;

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::TestApp,
        sio::Sio,
        spawn_app_with, unique,
        writer::{Ev, Writer, ev},
    },
};

backend_tests!(
    prune_deletes_exactly_the_old_events,
    resume_before_the_horizon_is_refused
);

const RETAIN: Duration = Duration::from_secs(90 * 86_400);

/// An event created `days` ago.
fn aged(variant: &str, n: u64, days: i64) -> Ev {
    let mut e = ev(variant, n, "rb2405.SHFE");
    e.created_at = Utc::now() - chrono::Duration::days(days);
    e
}

/// `old` events 100 days old, then `new` fresh ones, for `variant`.
async fn seed(w: &Writer, variant: &str, old: u64, new: u64) {
    for n in 0..old {
        w.event(&aged(variant, n, 100)).await;
    }
    for n in old..old + new {
        w.event(&aged(variant, n, 0)).await;
    }
}

async fn app_with_small_ring(backend: Backend) -> TestApp {
    let db = TestDb::create(backend).await;
    spawn_app_with(db, |c| c.realtime.ring_capacity = 4).await
}

async fn prune_deletes_exactly_the_old_events(backend: Backend) {
    let app = app_with_small_ring(backend).await;
    let (a, b) = (unique("ret_a"), unique("ret_b"));
    let w = Writer::connect(&app.db, 4).await;
    seed(&w, &a, 23, 5).await;
    seed(&w, &b, 4, 3).await;
    w.snapshot(&a, "i1", &json!({"k": 1})).await;
    // An old event inserted last (highest id) is found too.
    w.event(&aged(&a, 1000, 200)).await;
    // Only numbered events are pruned: wait for the gateway to number them all.
    assert_eq!(w.seqs(&a).await.len(), 29);
    assert_eq!(w.seqs(&b).await.len(), 7);

    let h = horizon(RETAIN).expect("horizon");
    assert_eq!(app.store.count_events_before(h).await.expect("count"), 28);
    // A writer keeps inserting fresh events while the prune runs.
    let stop = CancellationToken::new();
    let (wstop, wdb, wv) = (stop.clone(), Writer::connect(&app.db, 1).await, a.clone());
    let writer = tokio::spawn(async move {
        let mut n = 5000;
        while !wstop.is_cancelled() {
            wdb.event(&aged(&wv, n, 0)).await;
            n += 1;
        }
        n - 5000
    });
    let mut steps = Vec::new();
    let deleted = prune(&*app.store, h, 5, &CancellationToken::new(), |t| {
        steps.push(t)
    })
    .await
    .expect("prune");
    stop.cancel();
    let written = writer.await.expect("writer");
    // Other tests' variants share no database: exactly our 28 old rows went.
    assert_eq!(deleted, 28);
    assert_eq!(
        steps,
        vec![5, 10, 15, 20, 25, 28],
        "progress after each batch"
    );
    let left_a: Vec<i64> = w.seqs(&a).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(left_a.len() as u64, 5 + written, "fresh events all stay");
    assert_eq!(left_a.first(), Some(&24), "a's old seqs 1..=23 are gone");
    assert!(
        !left_a.contains(&29),
        "the late old event (seq 29) went too"
    );
    assert_eq!(w.seqs(&b).await.len(), 3);
    assert_eq!(app.store.pruned_upto(&a).await.expect("read"), 29);
    assert_eq!(app.store.pruned_upto(&b).await.expect("read"), 4);
    assert_eq!(
        app.store.pruned_upto(&unique("none")).await.expect("read"),
        0
    );
    assert_eq!(app.store.count_events_before(h).await.expect("count"), 0);
    assert_eq!(
        app.hub.snapshots(&a, None).len(),
        1,
        "snapshots are never pruned"
    );
    app.finish().await;
}

async fn resume_before_the_horizon_is_refused(backend: Backend) {
    let app = app_with_small_ring(backend).await;
    let v = unique("ret_r");
    let w = Writer::connect(&app.db, 2).await;
    seed(&w, &v, 10, 10).await;
    let c = Sio::connect(&app.base).await;
    crate::common::wait_for(
        "the poller to see all 20",
        Duration::from_secs(20),
        || async {
            let ack = c.subscribe(json!({"variant": v})).await;
            (ack["seq"] == 20).then_some(())
        },
    )
    .await;
    // Before pruning the full history replays (from the database: the ring holds 4).
    let ack = c.subscribe(json!({"variant": v, "since_seq": 2})).await;
    assert_eq!(ack["events"].as_array().map(Vec::len), Some(18), "{ack}");
    let h = horizon(RETAIN).expect("horizon");
    prune(&*app.store, h, 1000, &CancellationToken::new(), |_| {})
        .await
        .expect("prune");
    for since in [0, 2, 9] {
        let no = c.subscribe(json!({"variant": v, "since_seq": since})).await;
        assert_eq!(no["ok"], false, "since {since}: {no}");
        assert_eq!(no["error"]["code"], "history_pruned", "{no}");
    }
    // From the pruned position on, nothing is missing.
    let ok = c.subscribe(json!({"variant": v, "since_seq": 10})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let seqs: Vec<i64> = ok["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(seqs, (11..=20).collect::<Vec<_>>());
    c.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prune_subcommand_dry_run_and_progress() {
    let db = TestDb::create(Backend::Sqlite).await;
    let s = db.store().await;
    s.migrate().await.expect("migrate");
    let w = Writer::connect(&db, 1).await;
    let v = unique("ret_cli");
    seed(&w, &v, 5, 2).await;
    // No gateway runs here: number like its poller does (pruning skips unnumbered events).
    crate::common::number_pending(s.as_ref()).await;
    let run = |extra: &[&str]| {
        let mut cmd = crate::common::binary();
        cmd.args([
            "--database-url",
            &db.url,
            "prune",
            "--events-older-than",
            "90d",
            "--batch",
            "2",
        ])
        .args(extra);
        crate::common::stdout_of(&mut cmd)
    };
    let dry = run(&["--dry-run"]);
    assert!(dry.starts_with("5 events created before"), "{dry}");
    assert_eq!(w.seqs(&v).await.len(), 7, "a dry run deletes nothing");
    let out = run(&[]);
    assert!(
        out.contains("deleted 2/5\ndeleted 4/5\ndeleted 5/5\ndone: deleted 5 events"),
        "{out}"
    );
    assert_eq!(w.seqs(&v).await.len(), 2);
    s.close().await;
    db.drop_db().await;
}
