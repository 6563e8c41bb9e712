//! The schema contract: writers that only know the seed columns still get correct `seq` (from
//! the gateway's numbering rounds) and `version` (from the trigger), and with concurrent
//! writers a `seq > cursor` reader never misses a row, on every backend.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

/// How long the reader may wait for the gateway to number the last events.
const WAIT: Duration = Duration::from_secs(30);

use rand::Rng;
use serde_json::json;

use crate::{
    backend_tests,
    common::{
        Backend, spawn_app, unique,
        writer::{Writer, ev},
    },
};

backend_tests!(
    seed_column_writers_get_seq_and_version,
    concurrent_writers_seq_is_commit_order
);

async fn seed_column_writers_get_seq_and_version(b: Backend) {
    let app = spawn_app(b).await;
    let w = Writer::connect(&app.db, 2).await;
    let (va, vb) = (unique("sa"), unique("sb"));

    for i in 1..=3 {
        w.snapshot(&va, "i1", &json!({"n": i})).await;
        assert_eq!(w.version(&va, "i1").await, i, "version after {i} upserts");
    }
    w.snapshot(&vb, "i1", &json!({})).await;
    assert_eq!(w.version(&vb, "i1").await, 1);

    // Interleaved variants: each has its own sequence.
    for n in 0..4 {
        w.event(&ev(&va, n, "a.X")).await;
        w.event(&ev(&vb, n, "a.X")).await;
    }
    let seqs = |rows: Vec<(i64, i64)>| rows.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    assert_eq!(seqs(w.seqs(&va).await), vec![1, 2, 3, 4]);
    assert_eq!(seqs(w.seqs(&vb).await), vec![1, 2, 3, 4]);

    // A rolled-back insert leaves no trace in the numbering.
    let n = w
        .tx(&[ev(&va, 100, "a.X")], Duration::ZERO, false)
        .await
        .expect("tx");
    assert_eq!(n, 1);
    w.event(&ev(&va, 101, "a.X")).await;
    assert_eq!(seqs(w.seqs(&va).await), vec![1, 2, 3, 4, 5]);

    // A duplicate event_key is ignored (idempotent writers); later events still get a larger seq.
    assert_eq!(w.event(&ev(&va, 101, "a.X")).await, 0);
    w.event(&ev(&va, 102, "a.X")).await;
    let all = seqs(w.seqs(&va).await);
    assert_eq!(all.len(), 6);
    assert!(all[5] > 5, "seq keeps increasing: {all:?}");
    app.finish().await;
}

async fn concurrent_writers_seq_is_commit_order(b: Backend) {
    const WRITERS: u64 = 8;
    const TX_PER_WRITER: u64 = 40;
    let app = spawn_app(b).await;
    let w = Arc::new(Writer::connect(&app.db, WRITERS as u32 + 2).await);
    let v = unique("cc");
    let done = Arc::new(AtomicBool::new(false));
    // Set once the writers are done: how many events the reader must see.
    let expected = Arc::new(AtomicU64::new(u64::MAX));

    // A poller-style reader: autocommit reads of seq > cursor while the writers run and the
    // gateway numbers their events, until it has seen them all.
    let reader = {
        let (w, v, done, expected) = (w.clone(), v.clone(), done.clone(), expected.clone());
        tokio::spawn(async move {
            let (mut seen, mut cursor) = (Vec::new(), 0i64);
            let (mut id_seen, mut id_cursor) = (HashSet::new(), 0i64);
            let mut deadline = None;
            loop {
                let finished = done.load(Ordering::SeqCst);
                for s in w.read_after(&v, cursor, false).await {
                    seen.push(s);
                    cursor = s;
                }
                if !finished {
                    for id in w.read_after(&v, id_cursor, true).await {
                        id_seen.insert(id);
                        id_cursor = id;
                    }
                }
                if seen.len() as u64 >= expected.load(Ordering::SeqCst) {
                    return (seen, id_seen.len());
                }
                if finished {
                    let end = *deadline.get_or_insert_with(|| Instant::now() + WAIT);
                    assert!(Instant::now() < end, "reader saw {} events", seen.len());
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let mut writers = Vec::new();
    for wid in 0..WRITERS {
        let (w, v) = (w.clone(), v.clone());
        writers.push(tokio::spawn(async move {
            let mut inserted = 0;
            for t in 0..TX_PER_WRITER {
                let (k, hold) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(1..=3u64),
                        Duration::from_millis(rng.random_range(0..5)),
                    )
                };
                let events: Vec<_> = (0..k)
                    .map(|j| ev(&v, wid * 1_000_000 + t * 10 + j, "a.X"))
                    .collect();
                inserted += w.tx(&events, hold, true).await.expect("writer tx");
            }
            inserted
        }));
    }
    let mut total = 0;
    for h in writers {
        total += h.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let rows = w.seqs(&v).await;
    expected.store(rows.len() as u64, Ordering::SeqCst);
    let (seen, id_seen) = reader.await.expect("reader");

    assert_eq!(rows.len() as u64, total, "no lost rows");
    let final_seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        final_seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "seq is dense 1..N"
    );
    // The seq-cursor reader saw every row exactly once, in order.
    assert_eq!(seen, final_seqs, "a seq > cursor reader misses nothing");
    let out_of_id_order = rows.windows(2).filter(|p| p[1].1 < p[0].1).count();
    eprintln!(
        "{b:?}: {total} events by {WRITERS} writers; numbered out of id order: {out_of_id_order}; \
         an id > cursor reader saw {id_seen} of {total} while the writers ran"
    );
    app.finish().await;
}
