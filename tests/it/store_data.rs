//! What the store reads, the same on every backend: names matched byte for byte (MySQL's
//! case-insensitive collations included), time bounds over the whole accepted range. Backend
//! specifics are in `store_backends.rs`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use signalgate::{
    domain::{Interval, VtSymbol},
    store::{BarQuery, EventQuery, NewBar, NewSnapshot, Store, StoredBar, TimeField},
};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        db::Raw,
        unique,
        writer::{Ev, ev},
    },
};

backend_tests!(names_match_byte_for_byte, time_bounds_answer_alike);

pub(crate) fn utc(text: &str) -> DateTime<Utc> {
    signalgate::domain::parse_time(text).expect("time")
}

fn sym(text: &str) -> VtSymbol {
    VtSymbol::parse(text).expect("vt_symbol")
}

pub(crate) fn snapshot(variant: &str, at: DateTime<Utc>) -> NewSnapshot {
    NewSnapshot {
        variant: variant.into(),
        instance_id: "inst-01".into(),
        updated_at: at,
        bar_dt: Some(at),
        bar_interval: Some("1m".into()),
        bar_window: Some(1),
        payload: "{}".into(),
    }
}

fn bar(vt_symbol: &str, at: NaiveDateTime) -> NewBar {
    NewBar {
        vt_symbol: sym(vt_symbol),
        interval: Interval::Minute,
        bar: StoredBar {
            datetime: at,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
            turnover: 100.0,
            open_interest: 7.0,
        },
    }
}

fn bars_query(
    vt_symbol: &str,
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
) -> BarQuery {
    BarQuery {
        vt_symbol: sym(vt_symbol),
        interval: Interval::Minute,
        start,
        end,
        limit: 10,
    }
}

/// A migrated database with the gateway's store and a raw connection on it.
pub(crate) async fn fresh(b: Backend) -> (TestDb, Arc<dyn Store>, Box<dyn Raw>) {
    let db = TestDb::create(b).await;
    let (store, raw) = (db.store().await, db.raw(1).await);
    (db, store, raw)
}

/// Seqs of the events `q` returns.
pub(crate) async fn seqs(store: &Arc<dyn Store>, q: &EventQuery) -> Vec<i64> {
    let events = store.events(q).await.expect("events");
    events.iter().map(|e| e.seq).collect()
}

/// Bar times `q` returns.
async fn bar_times(store: &Arc<dyn Store>, q: &BarQuery) -> Vec<NaiveDateTime> {
    let bars = store.bars(q).await.expect("bars");
    bars.iter().map(|b| b.datetime).collect()
}

/// `TREND_FOLLOW_V1`, a trailing space or `RB2405.shfe` never return another name's rows. On
/// MySQL the unique keys still compare case-insensitively (documented in docs/schema.md): a
/// second spelling lands on the first spelling's snapshot row and sequence counter.
async fn names_match_byte_for_byte(b: Backend) {
    let db = TestDb::create(b).await;
    let store = db.store().await;
    let v = unique("trend_follow_v1");
    let upper = v.to_uppercase();
    let at = utc("2024-05-01T01:30:00Z");
    store
        .insert_event(&ev(&v, 1, "rb2405.SHFE"))
        .await
        .expect("event");
    store
        .upsert_snapshot(&snapshot(&v, at))
        .await
        .expect("snapshot");
    let local = at.naive_utc();
    store
        .upsert_bar(&bar("rb2405.SHFE", local))
        .await
        .expect("bar");
    crate::common::number_pending(store.as_ref()).await;

    let q = |variant: &str, symbols: &[&str]| {
        let mut q = EventQuery::after(variant, 0, 10);
        q.vt_symbols = symbols.iter().map(|s| sym(s)).collect();
        q
    };
    assert_eq!(seqs(&store, &q(&v, &[])).await, vec![1]);
    assert_eq!(seqs(&store, &q(&upper, &[])).await, Vec::<i64>::new());
    assert_eq!(
        seqs(&store, &q(&format!("{v} "), &[])).await,
        Vec::<i64>::new()
    );
    assert_eq!(seqs(&store, &q(&v, &["rb2405.SHFE"])).await, vec![1]);
    for other in ["RB2405.shfe", "rb2405.shfe", "RB2405.SHFE"] {
        assert_eq!(
            seqs(&store, &q(&v, &[other])).await,
            Vec::<i64>::new(),
            "{other}"
        );
        assert!(
            bar_times(&store, &bars_query(other, None, None))
                .await
                .is_empty(),
            "{other}"
        );
        let last = store.last_bar_time(&sym(other), Interval::Minute).await;
        assert_eq!(last.expect("last bar"), None, "{other}");
    }
    assert_eq!(
        bar_times(&store, &bars_query("rb2405.SHFE", None, None)).await,
        vec![local]
    );
    assert!(
        store
            .snapshots(Some(&upper))
            .await
            .expect("snapshots")
            .is_empty()
    );
    assert!(
        store
            .snapshots(Some(&format!("{v} ")))
            .await
            .expect("snapshots")
            .is_empty()
    );
    assert_eq!(store.snapshots(Some(&v)).await.expect("snapshots").len(), 1);

    // A second spelling of the same name.
    store
        .upsert_snapshot(&snapshot(&upper, at))
        .await
        .expect("snapshot");
    // Its first event key differs from the first spelling's only in case.
    let same_key = store.insert_event(&ev(&upper, 1, "rb2405.SHFE")).await;
    let other_key = store.insert_event(&ev(&upper, 2, "rb2405.SHFE")).await;
    crate::common::number_pending(store.as_ref()).await;
    assert!(other_key.expect("event"));
    let mine = store.snapshots(Some(&v)).await.expect("snapshots");
    let theirs = store.snapshots(Some(&upper)).await.expect("snapshots");
    let counters: Vec<String> = store
        .poll_state()
        .await
        .expect("poll state")
        .seqs
        .into_iter()
        .map(|(variant, _)| variant)
        .filter(|variant| variant.eq_ignore_ascii_case(&v))
        .collect();
    if b == Backend::MySql {
        assert_eq!(
            mine[0].version, 2,
            "the upsert updated the first spelling's row"
        );
        assert!(theirs.is_empty());
        assert!(
            !same_key.expect("event"),
            "a duplicate key to MySQL: ignored"
        );
        assert_eq!(
            seqs(&store, &q(&upper, &[])).await,
            vec![2],
            "one shared counter; the ignored duplicate took no number"
        );
        assert_eq!(counters, vec![v.clone()]);
    } else {
        assert_eq!((mine[0].version, theirs.len()), (1, 1), "two rows");
        assert!(same_key.expect("event"));
        assert_eq!(
            seqs(&store, &q(&upper, &[])).await,
            vec![1, 2],
            "two counters"
        );
        assert_eq!(counters.len(), 2);
    }
    store.close().await;
}

fn naive(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, 0, 0))
        .expect("date")
}

/// Any bound in years 1000-9999 gives the same answer on every backend, also after conversion
/// to the bars' zone pushes it past year 9999 or before year 1000; bounds beyond the range do
/// not fail either.
async fn time_bounds_answer_alike(b: Backend) {
    let db = TestDb::create(b).await;
    let store = db.store().await;
    let v = unique("tb");
    for (n, at) in [(1, "2024-05-01T01:00:00Z"), (2, "2026-01-01T00:00:00Z")] {
        let e = Ev {
            created_at: utc(at),
            bar_dt: Some(utc(at)),
            ..ev(&v, n, "a.X")
        };
        store.insert_event(&e).await.expect("event");
    }
    crate::common::number_pending(store.as_ref()).await;
    let q = |start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>, field: TimeField| {
        let mut q = EventQuery::after(&v, 0, 10);
        (q.start, q.end, q.time_field) = (start, end, field);
        q
    };
    let first = Some(naive(1000, 1, 1, 0).and_utc());
    let last = Some(utc("9999-12-31T23:59:59.999999Z"));
    let (t1, t2) = (
        Some(utc("2024-05-01T01:00:00Z")),
        Some(utc("2026-01-01T00:00:00Z")),
    );
    // Beyond the accepted range (the HTTP layer answers 400 before asking).
    let (before, after) = (
        Some(naive(999, 1, 1, 0).and_utc()),
        Some(naive(10000, 1, 1, 0).and_utc()),
    );
    let cases = [
        (first, last, vec![1, 2]),
        (last, None, vec![]),
        (None, first, vec![]),
        (t2, last, vec![2]),
        (first, t1, vec![1]),
        (after, None, vec![]),
        (None, before, vec![]),
        (before, after, vec![1, 2]),
    ];
    for field in [TimeField::CreatedAt, TimeField::BarDt] {
        for (start, end, want) in &cases {
            let got = seqs(&store, &q(*start, *end, field)).await;
            assert_eq!(&got, want, "{field:?} {start:?}..{end:?}");
        }
    }

    // Bars in Asia/Shanghai; bounds converted as the HTTP layer does.
    let (shanghai, new_york): (Tz, Tz) = (
        "Asia/Shanghai".parse().expect("zone"),
        "America/New_York".parse().expect("zone"),
    );
    let local = |tz: Tz, t: &str| Some(utc(t).with_timezone(&tz).naive_local());
    let (b1, b2) = (naive(2024, 5, 1, 9), naive(2026, 1, 1, 8));
    for t in [b1, b2] {
        store.upsert_bar(&bar("rb2405.SHFE", t)).await.expect("bar");
    }
    let end_of_range = local(shanghai, "9999-12-31T23:59:59Z");
    assert_eq!(
        end_of_range,
        Some(naive(10000, 1, 1, 7) + chrono::Duration::seconds(3599))
    );
    let start_of_range = local(new_york, "1000-01-01T00:00:00Z");
    let cases = [
        (None, end_of_range, vec![b1, b2]),
        (start_of_range, None, vec![b1, b2]),
        (start_of_range, end_of_range, vec![b1, b2]),
        (end_of_range, None, vec![]),
        (None, start_of_range, vec![]),
    ];
    for (start, end, want) in cases {
        let got = bar_times(&store, &bars_query("rb2405.SHFE", start, end)).await;
        assert_eq!(got, want, "bars {start:?}..{end:?}");
    }
    let latest = BarQuery {
        limit: 1,
        ..bars_query("rb2405.SHFE", None, end_of_range)
    };
    assert_eq!(bar_times(&store, &latest).await, vec![b2], "the latest bar");
    store.close().await;
}
