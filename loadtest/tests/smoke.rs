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

/// The `writers` cells on both backends, tiny durations: every cell commits on the plain and on
/// the gateway's schema, the report has medians, ratios, the table and the gateway migrations.
#[tokio::test]
async fn smoke_writers_cells_on_both_schemas_and_backends() {
    for db in [common::mysql(), common::postgres()] {
        let mut o = common::opts(&db);
        o.cells = vec![
            "insert-2w-1v".into(),
            "tx10-1w-1v".into(),
            "upsert-2w-2v".into(),
        ];
        (o.seconds, o.rounds) = (Some(0.3), 2);
        let r = scenario::run(Scenario::Writers, &o)
            .await
            .expect("writers runs");
        println!("{}", r.summary());
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        let cells = r.extra["cells"].as_array().expect("cells");
        assert_eq!(cells.len(), 3);
        for c in cells {
            let rounds = c["rounds"].as_array().expect("rounds");
            assert_eq!(rounds.len(), 2, "{c}");
            assert_ne!(
                rounds[0]["first"], rounds[1]["first"],
                "alternating order: {c}"
            );
            for side in ["plain", "gateway"] {
                for round in rounds {
                    assert!(round[side]["commits"].as_u64() > Some(0), "{side}: {c}");
                }
            }
            assert!(c["ratio"].as_f64() > Some(0.0), "{c}");
            assert!(c["gateway_p99_ms"].as_f64() > Some(0.0), "{c}");
        }
        let table = r.extra["table"].as_str().expect("table");
        assert!(table.contains("| tx10-1w-1v | 1 / 1 | 10 |"), "{table}");
        assert!(
            !r.extra["gateway_migrations"]
                .as_array()
                .expect("migrations")
                .is_empty()
        );
    }
}

/// `idle` with seeded variants and no clients: the counting proxy sees the gateway poll.
#[tokio::test]
async fn smoke_idle_variants_counts_the_gateways_statements() {
    let mut o = common::opts(&common::mysql());
    (o.idle_variants, o.idle_window, o.clients) = (300, 1.0, Some(0));
    let r = scenario::run(Scenario::Idle, &o).await.expect("idle runs");
    println!("{}", r.summary());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let q = &r.extra["quiet"];
    assert_eq!(q["variants"], 300);
    let per_s = q["statements"]["per_s"]
        .as_f64()
        .expect("statements counted");
    // The gateway polls at least every idle interval (100 ms by default): ≥ 1 statement/s.
    assert!(per_s >= 1.0, "{q}");
    assert!(q["rss_kb"].as_u64() > Some(0), "{q}");
}
