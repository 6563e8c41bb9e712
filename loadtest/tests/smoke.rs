//! The smoke scenarios the test suite runs: a few dozen clients, a few seconds, real gateway
//! processes on a real database (and for `group` a private redis-server and nginx). Numbers are
//! not asserted; losing, duplicating or reordering an event is (the report's `failures`).

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

/// Three instances behind nginx on MariaDB; the leader is killed (SIGKILL) a second into the
/// writing: a follower takes over within the 1 s lease, the killed instance's clients resume
/// through nginx on the others, and nobody loses or repeats an event.
#[tokio::test]
async fn smoke_group_leader_kill_mariadb_loses_nothing() {
    let mut o = common::opts(&common::mysql());
    (o.clients, o.variants, o.rate, o.writers, o.seconds) =
        (Some(30), Some(2), Some(100.0), Some(2), Some(3.0));
    o.kill_leader_at = Some(1.0);
    o.gateway_args = vec!["--redis-lease-ttl-ms=1000".into()];
    let r = scenario::run(Scenario::Group, &o)
        .await
        .expect("group runs");
    println!("{}", r.summary());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!((r.lost, r.duplicates), (0, 0));
    assert_eq!(r.delivered, r.expected);
    assert!(r.expected >= 30 * 100, "{}", r.expected);
    let failover = r.extra["failover_ms"]
        .as_i64()
        .expect("a new leader was elected");
    assert!(failover < 2500, "failover within the lease: {failover} ms");
    assert!(
        r.reconnects > 0,
        "the killed instance's clients resumed elsewhere"
    );
}
