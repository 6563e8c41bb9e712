//! Store behaviour specific to one backend: PostgreSQL's plain `TIMESTAMP` columns read as UTC,
//! MySQL's exact-match predicates still using the indexes.

use signalgate::store::EventQuery;

use crate::{
    common::{
        Backend,
        db::{Arg, Stmt},
        unique,
        writer::{Ev, ev},
    },
    store_data::{fresh, seqs, snapshot, utc},
};

/// Existing PostgreSQL databases often use plain `TIMESTAMP` for the signal times: read as UTC,
/// written as UTC, filtered as UTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_plain_timestamp_columns_read_as_utc() {
    let (_db, store, raw) = fresh(Backend::Postgres).await;
    raw.exec(
        "ALTER TABLE monitor_signal_event ALTER COLUMN created_at TYPE TIMESTAMP, \
         ALTER COLUMN bar_dt TYPE TIMESTAMP; \
         ALTER TABLE monitor_signal_snapshot ALTER COLUMN updated_at TYPE TIMESTAMP, \
         ALTER COLUMN bar_dt TYPE TIMESTAMP",
    )
    .await
    .expect("alter to TIMESTAMP");
    let v = unique("ts");
    let at = utc("2024-05-01T01:30:00.123456Z");
    let e = Ev {
        created_at: at,
        bar_dt: Some(at),
        ..ev(&v, 1, "a.X")
    };
    store.insert_event(&e).await.expect("event");
    store
        .upsert_snapshot(&snapshot(&v, at))
        .await
        .expect("snapshot");
    crate::common::number_pending(store.as_ref()).await;

    let events = store
        .events(&EventQuery::after(&v, 0, 10))
        .await
        .expect("events");
    assert_eq!((events[0].created_at, events[0].bar_dt), (at, Some(at)));
    let snaps = store.snapshots(Some(&v)).await.expect("snapshots");
    assert_eq!((snaps[0].updated_at, snaps[0].bar_dt), (at, Some(at)));
    let variants = store.variants().await.expect("variants");
    let mine = variants.iter().find(|s| s.variant == v).expect("listed");
    assert_eq!(
        mine.updated_at.as_deref(),
        Some("2024-05-01T01:30:00.123456Z")
    );
    // Stored as UTC wall time, and bounds compare in UTC.
    let stored = raw
        .ints(Stmt::new(
            "SELECT EXTRACT(EPOCH FROM created_at)::bigint FROM monitor_signal_event WHERE variant = $1",
            vec![Arg::Str(v.clone())],
        ))
        .await
        .expect("read back");
    assert_eq!(stored, vec![vec![at.timestamp()]]);
    let mut q = EventQuery::after(&v, 0, 10);
    q.start = Some(at);
    assert_eq!(seqs(&store, &q).await, vec![1]);
    q.start = Some(at + chrono::Duration::microseconds(1));
    assert_eq!(seqs(&store, &q).await, Vec::<i64>::new());
    store.close().await;
}

/// The exact-match predicates keep MySQL on its indexes (the statement texts are the ones the
/// store's builder produces; its unit tests pin them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_exact_matching_uses_the_indexes() {
    let (_db, store, raw) = fresh(Backend::MySql).await;
    let rows = |f: &dyn Fn(usize) -> String| (0..2000).map(f).collect::<Vec<_>>().join(", ");
    raw.exec(&format!(
        "INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, \
         event_key, created_at, payload_json) VALUES {}",
        rows(&|i| format!(
            "('v{}', 'i', 's{}.X', NULL, 'signal', 'k{i}', '2024-05-01', '{{}}')",
            i % 40,
            i % 50
        ))
    ))
    .await
    .expect("events");
    raw.exec(&format!(
        "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, payload_json) VALUES {}",
        rows(&|i| format!("('v{}', 'i{i}', '2024-05-01', '{{}}')", i % 40))
    ))
    .await
    .expect("snapshots");
    raw.exec(&format!(
        "INSERT INTO dbbardata (symbol, exchange, `datetime`, `interval`, volume, turnover, \
         open_interest, open_price, high_price, low_price, close_price) VALUES {}",
        rows(&|i| format!(
            "('s{}', 'X', '2024-05-01' + INTERVAL {i} MINUTE, '1m', 0, 0, 0, 0, 0, 0, 0)",
            i % 20
        ))
    ))
    .await
    .expect("bars");
    raw.exec("ANALYZE TABLE monitor_signal_event, monitor_signal_snapshot, dbbardata")
        .await
        .expect("analyze");
    let s = |v: &str| Arg::Str(v.into());
    let cases = [
        (
            "SELECT id FROM monitor_signal_event WHERE 1 = 1 AND variant = ? \
             AND CAST(variant AS BINARY) = ? AND seq > ? ORDER BY seq LIMIT ?",
            vec![s("v1"), s("v1"), Arg::I64(0), Arg::I64(100)],
            "uk_variant_seq",
        ),
        (
            "SELECT variant FROM monitor_signal_snapshot WHERE 1 = 1 AND variant = ? \
             AND CAST(variant AS BINARY) = ? ORDER BY variant, instance_id",
            vec![s("v1"), s("v1")],
            "uk_variant_instance",
        ),
        (
            "SELECT `datetime` FROM dbbardata WHERE 1 = 1 AND symbol = ? AND CAST(symbol AS BINARY) = ? \
             AND exchange = ? AND CAST(exchange AS BINARY) = ? AND `interval` = ? \
             AND CAST(`interval` AS BINARY) = ? ORDER BY `datetime` DESC LIMIT ?",
            vec![
                s("s1"),
                s("s1"),
                s("X"),
                s("X"),
                s("1m"),
                s("1m"),
                Arg::I64(10),
            ],
            "dbbardata_symbol_exchange_interval_datetime",
        ),
    ];
    for (sql, args, index) in cases {
        let plan = raw
            .texts(Stmt::new(format!("EXPLAIN FORMAT=JSON {sql}"), args))
            .await
            .expect("explain");
        assert!(
            plan[0].contains(&format!("\"key\": \"{index}\"")),
            "{sql}\n{}",
            plan[0]
        );
    }
    store.close().await;
}
