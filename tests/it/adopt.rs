//! Tables created from the design document (no `version`, `seq`, `monitor_signal_seq`): `migrate`
//! and `serve` refuse before changing anything, print the exact adoption steps, leave no
//! (failed) migration record, and after those very steps `migrate` succeeds and the existing
//! events are numbered 1..n. On MariaDB and PostgreSQL, where the steps are documented.

use serde_json::json;
use signalgate::{Application, BuildOptions};

use crate::common::{
    Backend, TestDb,
    app::test_config,
    binary,
    db::{Raw, Stmt},
    spawn_app_with, stdout_of,
    writer::{Writer, ev},
};

const VARIANT: &str = "adopt_v";

/// The design document's tables: migration 0001's two signal tables without the gateway's
/// columns and key.
fn design_tables(b: Backend) -> String {
    let up = match b {
        Backend::MySql => include_str!("../../migrations/mysql/0001_signal_tables.up.sql"),
        _ => include_str!("../../migrations/postgres/0001_signal_tables.up.sql"),
    };
    let end = up
        .find("CREATE TABLE IF NOT EXISTS monitor_signal_seq")
        .expect("0001 creates monitor_signal_seq");
    let tables: Vec<&str> = up[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .filter(|l| {
            !["version BIGINT", "seq BIGINT", "uk_variant_seq"]
                .iter()
                .any(|gw| l.contains(gw))
        })
        .collect();
    // PostgreSQL's event table ended with the removed constraint: drop the dangling comma.
    tables.join("\n").replace(",\n)", "\n)")
}

/// Rows a design-era writer left: one snapshot and three events.
async fn design_rows(raw: &dyn Raw) {
    let t = "'2024-05-01 09:30:00'";
    let mut sql = format!(
        "INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, payload_json) \
         VALUES ('{VARIANT}', 'i1', {t}, '{{}}');"
    );
    for k in 1..=3 {
        sql.push_str(&format!(
            "INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, event_type, \
             event_key, created_at, payload_json) \
             VALUES ('{VARIANT}', 'i1', 'rb2405.SHFE', 'signal', 'design-{k}', {t}, '{{}}');"
        ));
    }
    raw.exec(&sql).await.expect("design rows");
}

/// Whether `sql` (a count) runs and returns a positive number; false if the table is missing.
async fn positive(raw: &dyn Raw, sql: &str) -> bool {
    raw.ints(Stmt::new(sql, Vec::new()))
        .await
        .is_ok_and(|rows| rows.first().and_then(|r| r.first()).is_some_and(|n| *n > 0))
}

async fn design_tables_are_refused_untouched_then_adopted(b: Backend) {
    let db = TestDb::create(b).await;
    let raw = db.raw(1).await;
    raw.exec(&design_tables(b)).await.expect("design tables");
    design_rows(raw.as_ref()).await;

    // `migrate` (the binary, as documented) refuses with the steps.
    let out = binary()
        .args(["migrate", "--database-url", &db.url])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "migrate must refuse: {stderr}");
    assert!(stderr.contains("must be adopted"), "{stderr}");
    assert!(stderr.contains("monitor_signal_event.seq"), "{stderr}");
    // `serve` (migrations on by default) refuses the same way.
    let options = BuildOptions {
        migrate: true,
        demo: None,
    };
    let refused = match Application::build(test_config(&db), options).await {
        Ok(_) => panic!("serve must refuse design tables"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("must be adopted"), "{refused}");

    // Nothing was applied, not even half: no migration record, no counter table, no trigger.
    assert!(
        !positive(raw.as_ref(), "SELECT COUNT(*) FROM _sqlx_migrations").await,
        "no migration record"
    );
    assert!(
        raw.ints(Stmt::new(
            "SELECT COUNT(*) FROM monitor_signal_seq",
            Vec::new()
        ))
        .await
        .is_err(),
        "monitor_signal_seq not created"
    );

    // The printed steps, run verbatim, then `migrate`, adopt the tables.
    let steps = refused
        .split_once("run these statements on the database:\n\n")
        .and_then(|(_, rest)| rest.split_once("\nthen run"))
        .map(|(sql, _)| sql.to_owned())
        .unwrap_or_else(|| panic!("the refusal prints the statements: {refused}"));
    raw.exec(&steps)
        .await
        .expect("the printed adoption steps run");
    stdout_of(binary().args(["migrate", "--database-url", &db.url]));
    raw.close().await;

    let app = spawn_app_with(db, |_| {}).await;
    let w = Writer::connect(&app.db, 1).await;
    w.event(&ev(VARIANT, 4, "rb2405.SHFE")).await;
    let seqs: Vec<i64> = w.seqs(VARIANT).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4],
        "existing events 1..3, the next one continues"
    );
    let (status, body) = app.get(&format!("/api/events/{VARIANT}")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let served: Vec<i64> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(served, vec![1, 2, 3, 4], "{}", json!(body));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_design_tables_are_refused_untouched_then_adopted() {
    design_tables_are_refused_untouched_then_adopted(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_design_tables_are_refused_untouched_then_adopted() {
    design_tables_are_refused_untouched_then_adopted(Backend::Postgres).await;
}
