//! Refilling a gap in the event stream always ends: when the gap's last positions have no row
//! (removed, as pruning does) and at least a page of newer events follows, the refill
//! stops at the first row beyond the gap instead of reading the same page forever; and a refill
//! that keeps failing gives up when the consumer is cancelled (shutdown).

use std::{sync::Arc, time::Duration};

use signalgate::{
    bus::EventBatch,
    lifecycle::Supervisor,
    realtime::{
        fanout::Fanout,
        hub::{Hub, HubLimits},
    },
};
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;

use crate::{
    backend_tests,
    common::{
        Backend, TestDb, number_pending, unique,
        writer::{Writer, ev},
    },
};

/// Rows the gap refill reads per page (`GAP_PAGE` in src/realtime/apply.rs): the layout needs
/// more than a page of events after the gap.
const PAGE: u64 = 1000;

backend_tests!(gap_ending_in_missing_positions_is_filled_and_ends);

async fn gap_ending_in_missing_positions_is_filled_and_ends(b: Backend) {
    let db = TestDb::create(b).await;
    let store = db.store().await;
    let w = Writer::connect(&db, 2).await;
    let v = unique("gap");
    let sym = "a.X";

    // seq 1: the hub starts from here. No gateway runs: the test numbers like its poller.
    w.event(&ev(&v, 0, sym)).await;
    number_pending(store.as_ref()).await;
    let hub = Hub::new(
        store.clone(),
        HubLimits {
            ring_capacity: 4096,
            resume_cap: 1000,
            max_subscriptions: 32,
            max_symbols: 64,
            history_budget: 1 << 20,
        },
    );
    hub.load().await.expect("hub loads");
    assert_eq!(hub.seed().heads.get(&v), Some(&1));

    // The gap (1, to]: seq 2 and 3 have rows, the positions after them none.
    w.event(&ev(&v, 1, sym)).await;
    w.event(&ev(&v, 2, sym)).await;
    w.event(&ev(&v, 3, sym)).await;
    w.event(&ev(&v, 4, sym)).await;
    number_pending(store.as_ref()).await;
    w.exec(&format!(
        "DELETE FROM monitor_signal_event WHERE variant = '{v}' AND seq > 3"
    ))
    .await;
    let to = counter(&store, &v).await;
    assert_eq!(to, 5, "two positions after seq 3 without a row");
    assert_eq!(w.seqs(&v).await.last().map(|r| r.0), Some(3));

    // More than a page of newer events, in one transaction.
    let newer: Vec<_> = (10..10 + PAGE + 5).map(|n| ev(&v, n, sym)).collect();
    let inserted = w.tx(&newer, Duration::ZERO, true).await.expect("insert");
    assert_eq!(inserted, PAGE + 5);
    number_pending(store.as_ref()).await;
    let head = counter(&store, &v).await;

    // A batch continuing from `to` (the message covering (1, to] was lost).
    let (_layer, io) = SocketIo::new_layer();
    let fanout = Fanout::new(io, Supervisor::new());
    let batch = EventBatch {
        variant: v.clone(),
        after_seq: to,
        upto_seq: head,
        events: Vec::new(),
    };
    let cancel = CancellationToken::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        hub.apply_events(batch, &fanout, &cancel),
    )
    .await
    .expect("the gap refill ends");
    assert_eq!(hub.seed().heads.get(&v), Some(&head));

    // A refill that cannot read the database stops on cancellation instead of retrying forever.
    store.close().await;
    let batch = EventBatch {
        variant: v.clone(),
        after_seq: head + 10,
        upto_seq: head + 11,
        events: Vec::new(),
    };
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    tokio::time::timeout(
        Duration::from_secs(5),
        hub.apply_events(batch, &fanout, &cancel),
    )
    .await
    .expect("a failing refill gives up on cancellation");
    assert_eq!(
        hub.seed().heads.get(&v),
        Some(&head),
        "nothing applied after a cancelled refill"
    );
    db.drop_db().await;
}

/// The variant's counter (the poller's `upto` for a short read).
async fn counter(store: &Arc<dyn signalgate::store::Store>, variant: &str) -> i64 {
    let state = store.poll_state().await.expect("poll state");
    state
        .seqs
        .into_iter()
        .find(|(v, _)| v == variant)
        .map(|(_, s)| s)
        .expect("variant has a counter")
}
