//! Unit tests of `sequence.rs`: the numbering plan and the probe's shape.

use chrono::{DateTime, Utc};

use super::*;

fn pending(id: i64, variant: &str, head: i64) -> PendingEvent {
    PendingEvent {
        head,
        event: Event {
            id,
            seq: 0,
            variant: variant.to_owned(),
            instance_id: "i".to_owned(),
            vt_symbol: "a.X".to_owned(),
            bar_dt: None,
            event_type: "signal".to_owned(),
            event_key: format!("k{id}"),
            created_at: DateTime::<Utc>::MIN_UTC,
            payload: parse_payload("{}".to_owned(), "test"),
        },
    }
}

#[test]
fn numbers_follow_each_variants_head_in_id_order() {
    let plan = Numbering::plan(vec![
        pending(9, "b", 0),
        pending(3, "a", 7),
        pending(5, "b", 0),
        pending(4, "a", 7),
    ]);
    let got: Vec<(i64, &str, i64)> = plan
        .events
        .iter()
        .map(|e| (e.id, e.variant.as_str(), e.seq))
        .collect();
    assert_eq!(got, [(3, "a", 8), (4, "a", 9), (5, "b", 1), (9, "b", 2)]);
    assert_eq!(
        plan.before,
        BTreeMap::from([("a".into(), 7), ("b".into(), 0)])
    );
    assert_eq!(
        plan.after,
        BTreeMap::from([("a".into(), 9), ("b".into(), 2)])
    );
}

#[test]
fn nothing_pending_numbers_nothing() {
    let plan = Numbering::plan(Vec::new());
    assert!(plan.events.is_empty() && plan.before.is_empty() && plan.after.is_empty());
}

#[test]
fn probe_reads_each_part_through_its_index() {
    for d in [Dialect::MySql, Dialect::Postgres, Dialect::Sqlite] {
        let sql = probe_sql(d, 500);
        assert!(sql.params.is_empty(), "{d:?}");
        assert!(sql.text.contains("WHERE seq IS NULL ORDER BY id LIMIT 500"));
        assert!(
            sql.text
                .contains(&format!("WHERE {} ORDER BY id", d.pending()))
        );
    }
}
