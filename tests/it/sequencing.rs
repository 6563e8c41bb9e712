//! Gateway-assigned `seq` (issue 16, migration 0005): writers pay no lock for the cursor, two
//! gateways numbering one database never collide, an existing installation upgrades in place
//! and back, and names a database compares as equal never stall the numbering. Every body runs
//! on MariaDB, PostgreSQL and SQLite.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};

use crate::common::{
    Backend, TestDb,
    app::TestApp,
    number_pending,
    sio::{Sio, seq},
    spawn_app, spawn_app_with, unique,
    writer::{Writer, ev},
};

crate::backend_tests!(
    two_gateways_number_one_history,
    upgrade_in_place_and_back,
    names_the_database_finds_equal_never_stall,
);

const LONG: Duration = Duration::from_secs(60);

/// The seqs of every event a client received for `variant`.
fn seqs_of(events: &[Value], variant: &str) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e["variant"] == variant)
        .map(seq)
        .collect()
}

/// The seqs of `variant`'s rows once all are numbered.
async fn numbers(w: &Writer, variant: &str) -> Vec<i64> {
    w.seqs(variant).await.into_iter().map(|(s, _)| s).collect()
}

/// Two standalone gateways on one database both number (as an old and a new leader may for a
/// moment during a failover): the compare-and-set on the round lets one win each round, the
/// other catches up by reading. Clients of both get every event exactly once, in order, and
/// the numbers are dense.
async fn two_gateways_number_one_history(b: Backend) {
    const PER_WRITER: u64 = 60;
    let mut one = spawn_app(b).await;
    let two = spawn_app_with(one.db.clone(), |_| {}).await;
    let (va, vb) = (unique("two_a"), unique("two_b"));
    let mut clients = Vec::new();
    for app in [&one, &two] {
        for v in [&va, &vb] {
            let c = Sio::connect(&app.base).await;
            assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
            clients.push((c, v.clone()));
        }
    }
    let w = std::sync::Arc::new(Writer::connect(&one.db, 4).await);
    let mut writers = Vec::new();
    for wid in 0..4u64 {
        let (w, v) = (w.clone(), if wid % 2 == 0 { &va } else { &vb }.clone());
        writers.push(tokio::spawn(async move {
            for n in 0..PER_WRITER {
                w.event(&ev(&v, wid * 1000 + n, "a.X")).await;
            }
        }));
    }
    for h in writers {
        h.await.expect("writer");
    }
    let expected = (2 * PER_WRITER) as i64;
    for v in [&va, &vb] {
        let numbered = numbers(&w, v).await;
        assert_eq!(
            numbered,
            (1..=expected).collect::<Vec<_>>(),
            "dense seqs of {v}"
        );
    }
    for (c, v) in &mut clients {
        let got = c.events_until(LONG, |e| e.len() as i64 >= expected).await;
        assert_eq!(
            seqs_of(&got, v),
            (1..=expected).collect::<Vec<_>>(),
            "every event once, in order"
        );
        assert!(
            c.next(Duration::from_millis(300)).await.is_none(),
            "nothing twice"
        );
    }
    for (c, _) in clients {
        c.close().await;
    }
    drop(w);
    one.stop().await;
    two.finish().await;
}

// SQLite has one writer at a time: there an open transaction holds back every other writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_an_open_transaction_holds_back_no_other_writer() {
    an_open_transaction_holds_back_no_other_writer(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_open_transaction_holds_back_no_other_writer() {
    an_open_transaction_holds_back_no_other_writer(Backend::Postgres).await;
}

/// A strategy holding a transaction open (here 4 s) delays nobody else: another writer's
/// event of the same variant commits and reaches clients meanwhile (with the insert trigger it
/// waited for the variant's counter row), and the held event follows when it commits, with the
/// next number.
async fn an_open_transaction_holds_back_no_other_writer(b: Backend) {
    let app = spawn_app(b).await;
    let v = unique("held");
    let mut c = Sio::connect(&app.base).await;
    assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
    let w = std::sync::Arc::new(Writer::connect(&app.db, 3).await);
    let held = tokio::spawn({
        let (w, v) = (w.clone(), v.clone());
        async move {
            w.tx(&[ev(&v, 1, "a.X")], Duration::from_secs(4), true)
                .await
        }
    });
    // The held insert has run (its row exists, uncommitted) once the other writer's is in.
    w.event(&ev(&v, 2, "a.X")).await;
    let first = c.events_until(LONG, |e| !e.is_empty()).await;
    assert!(
        !held.is_finished(),
        "the held transaction was still open when the other event arrived"
    );
    assert_eq!(
        first[0]["event_key"],
        ev(&v, 2, "a.X").event_key,
        "{first:?}"
    );
    assert_eq!(seq(&first[0]), 1);
    assert_eq!(held.await.expect("held").expect("tx"), 1);
    let second = c.events_until(LONG, |e| !e.is_empty()).await;
    assert_eq!(second[0]["event_key"], ev(&v, 1, "a.X").event_key);
    assert_eq!(seq(&second[0]), 2);
    c.close().await;
    drop(w);
    app.finish().await;
}

/// An installation at migration 0004 (trigger-assigned seq) moves to 0005 with one migrate and
/// keeps its history: numbering continues after each variant's head. Going back numbers what
/// the gateway had not numbered yet and restores the insert trigger.
async fn upgrade_in_place_and_back(b: Backend) {
    let db = TestDb::create(b).await;
    let store = db.store().await;
    store.migrate().await.expect("migrate");
    assert!(store.migrate_down().await.expect("down to 0004"));
    let w = Writer::connect(&db, 2).await;
    let v = unique("upgrade");
    for n in 0..5 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    w.snapshot(&v, "inst-01", &json!({"n": 1})).await;
    assert_eq!(
        numbers(&w, &v).await,
        [1, 2, 3, 4, 5],
        "the trigger numbers at 0004"
    );

    let mut app: TestApp = spawn_app_with(db.clone(), |_| {}).await;
    for n in 5..10 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    w.snapshot(&v, "inst-01", &json!({"n": 2})).await;
    let c = Sio::connect(&app.base).await;
    let ack = tokio::time::timeout(LONG, async {
        loop {
            let ack = c.subscribe(json!({"variant": v, "since_seq": 0})).await;
            if ack["events"].as_array().map(Vec::len) == Some(10) {
                return ack;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("10 events served after the upgrade");
    let served: Vec<i64> = ack["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(seq)
        .collect();
    assert_eq!(served, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        w.version(&v, "inst-01").await,
        2,
        "the version trigger kept counting"
    );
    c.close().await;
    app.stop().await;

    // Written while no gateway runs: pending until the down migration numbers them.
    for n in 10..13 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    assert!(store.migrate_down().await.expect("down to 0004 again"));
    assert_eq!(
        numbers(&w, &v).await,
        (1..=13).collect::<Vec<_>>(),
        "the down migration numbered the pending events"
    );
    w.event(&ev(&v, 13, "a.X")).await;
    assert_eq!(
        w.seqs(&v).await.last().map(|s| s.0),
        Some(14),
        "trigger is back"
    );
    store.migrate().await.expect("up again");
    store.migrate().await.expect("idempotent");
    w.event(&ev(&v, 14, "a.X")).await;
    number_pending(store.as_ref()).await;
    assert_eq!(w.seqs(&v).await.last().map(|s| s.0), Some(15));
    drop(w);
    store.close().await;
    app.finish().await;
}

/// MySQL's default collation finds `Name` and `name` equal, so they share one counter row;
/// both pending in one round would get the same number and fail the round. The poller then
/// numbers one event per round: nothing stalls, each event gets its own number.
async fn names_the_database_finds_equal_never_stall(b: Backend) {
    let app = spawn_app(b).await;
    let lower = unique("case_v");
    let upper = lower.to_uppercase();
    let w = Writer::connect(&app.db, 2).await;
    // One transaction: both become visible to the same probe.
    let pair = [ev(&lower, 1, "a.X"), ev(&upper, 2, "a.X")];
    assert_eq!(w.tx(&pair, Duration::ZERO, true).await.expect("tx"), 2);
    w.event(&ev(&lower, 3, "a.X")).await;
    let mut numbers = BTreeMap::new();
    for v in [&lower, &upper] {
        for (s, id) in w.seqs(v).await {
            numbers.insert(id, s);
        }
    }
    let mut got: Vec<i64> = numbers.values().copied().collect();
    got.sort();
    if b == Backend::MySql {
        assert_eq!(got, [1, 2, 3], "one shared counter, every event numbered");
    } else {
        assert_eq!(got, [1, 1, 2], "two variants, two counters");
    }
    drop(w);
    app.finish().await;
}
