//! The smoke scenario the test suite runs: a few dozen clients, a few seconds, a real gateway
//! process on a real database. Numbers are not asserted; losing, duplicating or reordering an
//! event is (the report's `failures`).

mod common;

use signalgate_loadtest::scenario::{self, Scenario};

/// Fan-out on MariaDB with out-of-order commits (transactions held 0-3 ms), 3 variants.
#[tokio::test]
async fn smoke_fanout_mariadb_loses_nothing() {
    let mut o = common::opts(&common::mysql());
    (
        o.clients, o.variants, o.rate, o.writers, o.seconds, o.hold_ms,
    ) = (Some(30), Some(3), Some(150.0), Some(4), Some(3.0), 3);
    o.snapshot_every = 20;
    let r = scenario::run(Scenario::Fanout, &o)
        .await
        .expect("fanout runs");
    println!("{}", r.summary());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!((r.lost, r.duplicates), (0, 0));
    assert_eq!(r.delivered, r.expected);
    assert!(
        r.expected >= 30 * 150,
        "every client expected its variant's events: {}",
        r.expected
    );
    assert!(r.snapshots > 0);
}

/// Gateway restart on PostgreSQL while writers go on: every client resumes with `since_seq`.
#[tokio::test]
async fn smoke_resume_postgres_loses_nothing() {
    let mut o = common::opts(&common::postgres());
    (
        o.clients, o.variants, o.rate, o.writers, o.seconds, o.downtime,
    ) = (Some(20), Some(2), Some(100.0), Some(2), Some(3.0), 1.0);
    let r = scenario::run(Scenario::Resume, &o)
        .await
        .expect("resume runs");
    println!("{}", r.summary());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!((r.lost, r.duplicates), (0, 0));
    assert!(
        r.reconnects >= 20,
        "every client reconnected: {}",
        r.reconnects
    );
}
