//! The supervised lifecycle: a gateway built and stopped several times in one runtime leaves
//! nothing behind — no background task, no open pool, no live hub (and so no Socket.IO state).

use std::{sync::Arc, time::Duration};

use serde_json::json;
use signalgate::{Application, BuildOptions, config::DemoArgs};

use crate::{
    backend_tests,
    common::{
        Backend, TestDb,
        app::test_config,
        sio::{Sio, seq},
        unique, wait_for,
        writer::{Writer, ev},
    },
};

backend_tests!(stopped_gateway_leaves_nothing_behind);

async fn stopped_gateway_leaves_nothing_behind(b: Backend) {
    let db = TestDb::create(b).await;
    let v = unique("life");
    let mut writer = None;
    for round in 0..3_u64 {
        let app = Application::build(
            test_config(&db),
            BuildOptions {
                migrate: true,
                demo: Some(DemoArgs {
                    demo_tick_ms: 50,
                    demo_history: 5,
                    demo_ticks: 0,
                }),
            },
        )
        .await
        .expect("gateway builds");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let (tasks, store) = (app.tasks(), app.store());
        let hub = Arc::downgrade(&app.hub());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));

        // The gateway works: a subscriber gets a freshly written event.
        let w = match &writer {
            Some(w) => w,
            None => writer.insert(Writer::connect(&db, 1).await),
        };
        let mut client = Sio::connect(&base).await;
        let ack = client.subscribe(json!({"variant": v})).await;
        assert_eq!(ack["ok"], true, "{ack}");
        w.event(&ev(&v, round, "a.X")).await;
        let got = client
            .events_until(Duration::from_secs(30), |e| !e.is_empty())
            .await;
        assert!(seq(&got[0]) > ack["seq"].as_i64().unwrap_or_default());
        // Bus consumer, poller, demo writer at least.
        assert!(
            tasks.running() >= 3,
            "round {round}: {} tasks",
            tasks.running()
        );

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(20), server)
            .await
            .expect("stops within the bound")
            .expect("server task")
            .expect("clean stop");
        assert_eq!(
            tasks.running(),
            0,
            "round {round}: tasks outlived the gateway"
        );
        assert!(store.is_closed(), "round {round}: the pool is still open");
        client.close().await;
        wait_for("the hub to be released", Duration::from_secs(10), || {
            let gone = hub.upgrade().is_none();
            async move { gone.then_some(()) }
        })
        .await;
    }
    db.drop_db().await;
}
