//! PostgreSQL's opt-in monthly partitions of `monitor_signal_event` (`signalgate partition`):
//! a table with rows is converted under a running gateway (every row, `seq` and key kept, the
//! poller goes on), duplicates are still ignored, `prune` drops exactly the whole old months
//! (recording the pruned `seq`, so an old resume gets `history_pruned`) and deletes the rest in
//! batches while writers keep inserting, creates the coming months, and moves rows waiting in
//! the DEFAULT partition into a new month. Running the command twice changes nothing. On MySQL
//! and SQLite the command says it is PostgreSQL-only.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;
use signalgate::retention::{horizon, prune};
use tokio_util::sync::CancellationToken;

use crate::common::{
    Backend, TestDb,
    db::Stmt,
    number_pending,
    sio::Sio,
    spawn_app_with, unique, wait_for,
    writer::{Ev, Writer, ev},
};

const RETAIN: Duration = Duration::from_secs(90 * 86_400);

/// The first instant of `t`'s month, shifted by `months`.
fn month_start(t: DateTime<Utc>, months: i32) -> DateTime<Utc> {
    let i = t.year() * 12 + t.month0() as i32 + months;
    NaiveDate::from_ymd_opt(i.div_euclid(12), i.rem_euclid(12) as u32 + 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid month")
        .and_utc()
}

/// `monitor_signal_event_pYYYYMM` of `t`'s month shifted by `months`.
fn part(t: DateTime<Utc>, months: i32) -> String {
    let m = month_start(t, months);
    format!("monitor_signal_event_p{:04}{:02}", m.year(), m.month())
}

fn at(variant: &str, n: u64, created_at: DateTime<Utc>) -> Ev {
    let mut e = ev(variant, n, "rb2405.SHFE");
    e.created_at = created_at;
    e
}

/// One integer from `sql`.
async fn int(db: &TestDb, sql: &str) -> i64 {
    let raw = db.raw(1).await;
    let rows = raw.ints(Stmt::new(sql, Vec::new())).await.expect("query");
    raw.close().await;
    rows.first().and_then(|r| r.first()).copied().unwrap_or(-1)
}

/// Names of the event table's partitions, sorted.
async fn partitions(db: &TestDb) -> Vec<String> {
    let raw = db.raw(1).await;
    let sql = "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
               WHERE i.inhparent = 'monitor_signal_event'::regclass ORDER BY 1";
    let names = raw.texts(Stmt::new(sql, Vec::new())).await.expect("query");
    raw.close().await;
    names
}

/// Runs `signalgate partition` (and `extra` flags) on `db`; returns stdout.
fn partition_cli(db: &TestDb, extra: &[&str]) -> String {
    let mut cmd = crate::common::binary();
    cmd.args(["--database-url", &db.url, "partition"])
        .args(extra);
    crate::common::stdout_of(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn convert_under_a_running_gateway_then_prune_whole_months() {
    let db = TestDb::create(Backend::Postgres).await;
    let app = spawn_app_with(db, |c| c.realtime.ring_capacity = 4).await;
    let (a, b) = (unique("part_a"), unique("part_b"));
    let w = Writer::connect(&app.db, 4).await;
    let h = horizon(RETAIN).expect("horizon");
    // far: two months before the horizon's month (a whole old partition); near: in the
    // horizon's month but before it (batch-deleted); kept: after the horizon.
    let far = month_start(h, -2) + chrono::Duration::days(3);
    let near = month_start(h, 0) + (h - month_start(h, 0)) / 2;
    let kept = h + chrono::Duration::days(1);
    let mut n = 0;
    for (v, t, count) in [
        (&a, far, 12),
        (&b, far, 3),
        (&a, near, 4),
        (&a, kept, 5),
        (&b, Utc::now(), 2),
    ] {
        for _ in 0..count {
            w.event(&at(v, n, t)).await;
            n += 1;
        }
    }
    let before_a = w.seqs(&a).await;
    let before_b = w.seqs(&b).await;
    assert_eq!((before_a.len(), before_b.len()), (21, 5));

    // Convert while the gateway polls: the poller keeps reading through it.
    let started = Instant::now();
    let out = partition_cli(&app.db, &[]);
    println!("MEASURED convert 26 rows: {:?}", started.elapsed());
    assert!(
        out.contains("converted monitor_signal_event to monthly partitions: 26 events kept"),
        "{out}"
    );
    let parts = partitions(&app.db).await;
    for m in -2..=2 {
        assert!(parts.contains(&part(h, m)), "{m}: {parts:?}");
    }
    assert!(parts.contains(&part(Utc::now(), 2)), "{parts:?}");
    assert!(parts.contains(&"monitor_signal_event_default".to_owned()));
    assert_eq!(w.seqs(&a).await, before_a, "ids and seqs kept");
    assert_eq!(w.seqs(&b).await, before_b);
    let relkind = "SELECT CASE WHEN relkind = 'p' THEN 1 ELSE 0 END::bigint FROM pg_class \
                   WHERE oid = 'monitor_signal_event'::regclass";
    assert_eq!(int(&app.db, relkind).await, 1);
    // Running it again only reports.
    let again = partition_cli(&app.db, &[]);
    assert!(again.contains("already partitioned (26 events)"), "{again}");
    assert_eq!(partitions(&app.db).await, parts, "nothing new");

    // A duplicate is still ignored (using no number, as on the plain table); a new key goes on.
    assert_eq!(w.event(&at(&a, 0, far)).await, 0, "duplicate key ignored");
    assert_eq!(w.event(&at(&a, 1000, Utc::now())).await, 1);
    assert_eq!(w.seqs(&a).await.last().map(|s| s.0), Some(22));
    // The gateway sees the new event (numbering works on the partitions).
    let c = Sio::connect(&app.base).await;
    wait_for(
        "the poller to see seq 22",
        Duration::from_secs(20),
        || async {
            let ack = c.subscribe(json!({"variant": a})).await;
            (ack["seq"] == 22).then_some(())
        },
    )
    .await;

    // Dry run: names the whole old months, deletes nothing.
    let dry = app
        .store
        .prune_partitions(h, 2, true)
        .await
        .expect("dry run");
    // The month before the horizon's is whole too (and empty).
    assert_eq!(dry.dropped, vec![part(h, -2), part(h, -1)]);
    assert_eq!(dry.rows, 15);
    assert_eq!(w.seqs(&a).await.len(), 22);

    // Writers keep inserting fresh events (and retrying one key) while prune runs.
    let stop = CancellationToken::new();
    let (wstop, wdb, wv) = (stop.clone(), Writer::connect(&app.db, 1).await, b.clone());
    let writer = tokio::spawn(async move {
        let (mut fresh, mut dups) = (0u64, 0u64);
        let mut k = 5000;
        while !wstop.is_cancelled() {
            fresh += wdb.event(&at(&wv, k, Utc::now())).await;
            dups += wdb.event(&at(&wv, 5000, Utc::now())).await;
            k += 1;
        }
        (fresh, dups)
    });
    let started = Instant::now();
    let dropped = app.store.prune_partitions(h, 2, false).await.expect("drop");
    let dropped_in = started.elapsed();
    let deleted = prune(&*app.store, h, 2, &CancellationToken::new(), |_| {})
        .await
        .expect("batch");
    println!(
        "MEASURED drop of 2 partitions (15 rows): {dropped_in:?}; batch delete of {deleted}: {:?}",
        started.elapsed() - dropped_in
    );
    stop.cancel();
    let (fresh, dups) = writer.await.expect("writer");
    assert!(fresh > 0, "the writer wrote during the prune");
    assert_eq!(dups, 0, "the retried key never went in twice");
    assert_eq!(
        dropped.dropped,
        vec![part(h, -2), part(h, -1)],
        "exactly the whole old months"
    );
    assert_eq!(dropped.rows, 15);
    assert_eq!(deleted, 4, "the rest of the horizon's month in batches");
    assert_eq!(app.store.count_events_before(h).await.expect("count"), 0);
    let left_a: Vec<i64> = w.seqs(&a).await.into_iter().map(|s| s.0).collect();
    assert_eq!(left_a, vec![17, 18, 19, 20, 21, 22], "a's seqs 1..=16 went");
    assert_eq!(
        w.seqs(&b).await.len() as u64,
        2 + fresh,
        "no fresh event lost"
    );
    assert_eq!(app.store.pruned_upto(&a).await.expect("read"), 16);
    assert_eq!(app.store.pruned_upto(&b).await.expect("read"), 3);
    let keys = int(&app.db, "SELECT count(*) FROM monitor_signal_event_key").await;
    let events = int(&app.db, "SELECT count(*) FROM monitor_signal_event").await;
    assert_eq!(
        keys, events,
        "keys of dropped and deleted rows are forgotten"
    );
    let parts = partitions(&app.db).await;
    assert!(!parts.contains(&part(h, -2)) && !parts.contains(&part(h, -1)));
    assert!(
        parts.contains(&part(h, 0)),
        "the horizon's month stays: {parts:?}"
    );

    // A resume from before the pruned position is refused, from it on it replays.
    let no = c.subscribe(json!({"variant": a, "since_seq": 3})).await;
    assert_eq!(no["error"]["code"], "history_pruned", "{no}");
    let ok = c.subscribe(json!({"variant": a, "since_seq": 16})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["events"].as_array().map(Vec::len), Some(6), "{ok}");
    // A pruned key can be written again (its event is gone).
    assert_eq!(w.event(&at(&a, 0, Utc::now())).await, 1);
    c.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roll_over_creates_coming_months_and_moves_default_rows() {
    let db = TestDb::create(Backend::Postgres).await;
    let s = db.store().await;
    s.migrate().await.expect("migrate");
    let w = Writer::connect(&db, 1).await;
    let v = unique("part_roll");
    w.event(&at(&v, 1, Utc::now())).await;
    // No gateway runs here: number like its poller does.
    number_pending(s.as_ref()).await;
    let out = partition_cli(&db, &["--months-ahead", "0"]);
    assert!(out.contains("1 events kept, 1 partitions"), "{out}");
    // Four months ahead has no partition yet: the row waits in DEFAULT.
    let ahead = month_start(Utc::now(), 4) + chrono::Duration::days(2);
    w.event(&at(&v, 2, ahead)).await;
    number_pending(s.as_ref()).await;
    let in_default = "SELECT count(*) FROM monitor_signal_event_default";
    assert_eq!(int(&db, in_default).await, 1);
    // prune's roll-over creates the next two months.
    let h = horizon(RETAIN).expect("horizon");
    let r = s.prune_partitions(h, 2, false).await.expect("roll over");
    assert_eq!(r.created, vec![part(Utc::now(), 1), part(Utc::now(), 2)]);
    assert!(r.dropped.is_empty());
    // Creating the fourth month moves the waiting row in, seq and key unchanged.
    let r = s.partition_events(4).await.expect("partition");
    assert!(!r.converted);
    assert_eq!(r.created, vec![part(Utc::now(), 3), part(Utc::now(), 4)]);
    assert_eq!(int(&db, in_default).await, 0);
    let moved = format!("SELECT count(*) FROM {} WHERE seq = 2", part(Utc::now(), 4));
    assert_eq!(int(&db, &moved).await, 1);
    assert_eq!(
        w.event(&at(&v, 2, ahead)).await,
        0,
        "its key is still claimed"
    );
    assert_eq!(w.seqs(&v).await.len(), 2);
    w.event(&at(&v, 3, Utc::now())).await;
    number_pending(s.as_ref()).await;
    assert_eq!(
        w.seqs(&v).await.last().map(|s| s.0),
        Some(3),
        "the ignored duplicate used no number"
    );
    s.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_is_postgres_only() {
    let db = TestDb::create(Backend::Sqlite).await;
    let out = crate::common::binary()
        .args(["--database-url", &db.url, "partition"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("signalgate partition is PostgreSQL-only; this database is sqlite"),
        "{err}"
    );
    db.drop_db().await;
    let db = TestDb::create(Backend::MySql).await;
    let s = db.store().await;
    s.migrate().await.expect("migrate");
    let e = s.partition_events(2).await.expect_err("refused");
    assert!(e.to_string().contains("PostgreSQL-only"), "{e}");
    // prune on a plain table has no partitions to drop.
    let h = horizon(RETAIN).expect("horizon");
    let r = s.prune_partitions(h, 2, false).await.expect("no-op");
    assert!(!r.partitioned);
    s.close().await;
    db.drop_db().await;
}
