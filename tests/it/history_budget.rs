//! `--history-budget`: one byte bound for the recent events of all variants, spent first on
//! variants with subscribers. Variants nobody watches keep little; resumes from before what is
//! kept read the database; every event still arrives exactly once, on every backend.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};
use signalgate::config::ByteSize;

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::TestApp,
        sio::{Sio, seq},
        spawn_app_with, unique, wait_for,
        writer::{Writer, ev},
    },
};

backend_tests!(history_budget_bounds_rings_and_resumes_stay_exact);

const LONG: Duration = Duration::from_secs(120);
/// Small enough that a few hundred test events overflow it (an event costs ~0.5 KiB).
const BUDGET: usize = 64 << 10;

/// Writes `n` events numbered from `first` into `variant`, 20 per transaction.
async fn write(w: &Writer, variant: &str, first: u64, n: u64) {
    let evs: Vec<_> = (first..first + n)
        .map(|i| ev(variant, i, "rb2405.SHFE"))
        .collect();
    for chunk in evs.chunks(20) {
        let inserted = w.tx(chunk, Duration::ZERO, true).await.expect("write");
        assert_eq!(inserted, chunk.len() as u64);
    }
}

/// Waits until the gateway has published every committed event of `variants`.
async fn wait_applied(app: &TestApp, w: &Writer, variants: &[&str]) {
    let mut want = BTreeMap::new();
    for v in variants {
        let last = w.seqs(v).await.last().map_or(0, |(s, _)| *s);
        want.insert(v.to_string(), last);
    }
    wait_for("the gateway to apply the writes", LONG, || async {
        let heads = app.hub.seed().heads;
        want.iter()
            .all(|(v, s)| heads.get(v).is_some_and(|h| h >= s))
            .then_some(())
    })
    .await;
    // The consumer enforces the budget right after it applies a batch (and moves the head):
    // wait for that step too, so the bounds are read after it. A budget never enforced fails.
    wait_for("the budget to be enforced", LONG, || async {
        let s = app.hub.history_stats();
        (s.bytes <= s.limit && s.unwatched_bytes <= s.limit / 8).then_some(())
    })
    .await;
}

/// Every committed seq of `variant`, ascending.
async fn db_seqs(w: &Writer, variant: &str) -> Vec<i64> {
    w.seqs(variant).await.into_iter().map(|(s, _)| s).collect()
}

/// Subscribes from `since_seq` 0, then collects live events until every committed one was
/// seen; asserts each arrived exactly once, in order.
async fn resume_all(app: &TestApp, w: &Writer, variant: &str, more_from: u64) -> Sio {
    let mut c = Sio::connect(&app.base).await;
    let ack = c
        .subscribe(json!({"variant": variant, "since_seq": 0}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["truncated"], false, "{ack}");
    let mut got: Vec<Value> = ack["events"].as_array().cloned().unwrap_or_default();
    // Live events after the ack continue the replay without a gap or an overlap.
    write(w, variant, more_from, 5).await;
    let want = db_seqs(w, variant).await;
    let have = got.len();
    got.extend(c.events_until(LONG, |e| have + e.len() >= want.len()).await);
    let got: Vec<i64> = got.iter().map(seq).collect();
    assert_eq!(got, want, "{variant}: every event exactly once, in order");
    c
}

async fn history_budget_bounds_rings_and_resumes_stay_exact(b: Backend) {
    let db = TestDb::create(b).await;
    let app = spawn_app_with(db.clone(), |c| {
        c.realtime.history_budget = ByteSize(BUDGET as u64);
    })
    .await;
    let w = Writer::connect(&db, 4).await;

    // A small variant with a subscriber, and many variants nobody watches.
    let hot = unique("hb_hot");
    let watcher = Sio::connect(&app.base).await;
    assert_eq!(watcher.subscribe(json!({"variant": hot})).await["ok"], true);
    write(&w, &hot, 0, 30).await;
    let cold: Vec<String> = (0..10).map(|_| unique("hb_cold")).collect();
    for v in &cold {
        write(&w, v, 0, 40).await;
    }
    let mut all: Vec<&str> = cold.iter().map(String::as_str).collect();
    all.push(&hot);
    wait_applied(&app, &w, &all).await;
    let s = app.hub.history_stats();
    assert!(s.unwatched_bytes <= BUDGET / 8, "unwatched share: {s:?}");
    assert!(
        s.evicted_budget > 0,
        "400 unwatched events cannot fit: {s:?}"
    );
    assert!(
        s.bytes - s.unwatched_bytes >= 30 * 300,
        "the hot ring is whole: {s:?}"
    );

    // A big watched variant overflows the whole budget: the unwatched rings go first, then the
    // biggest ring is cut; the small hot ring keeps every event.
    let big = unique("hb_big");
    assert_eq!(watcher.subscribe(json!({"variant": big})).await["ok"], true);
    write(&w, &big, 0, 200).await;
    all.push(&big);
    wait_applied(&app, &w, &all).await;
    let s = app.hub.history_stats();
    assert!(s.bytes <= BUDGET, "within the budget: {s:?}");
    assert_eq!(
        s.unwatched_bytes, 0,
        "unwatched rings were given up first: {s:?}"
    );

    // The hot variant resumes from its ring alone; the others read the database.
    let before = app.hub.history_stats();
    let c_hot = resume_all(&app, &w, &hot, 1_000).await;
    let after = app.hub.history_stats();
    assert_eq!(after.resumes_ring, before.resumes_ring + 1, "{after:?}");
    assert_eq!(after.resumes_database, before.resumes_database, "{after:?}");

    let c_big = resume_all(&app, &w, &big, 1_000).await;
    let c_cold = resume_all(&app, &w, &cold[0], 1_000).await;
    let after = app.hub.history_stats();
    assert_eq!(
        after.resumes_database,
        before.resumes_database + 2,
        "{after:?}"
    );
    for c in [watcher, c_hot, c_big, c_cold] {
        c.close().await;
    }
    app.finish().await;
}
