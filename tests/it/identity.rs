//! The database identity (issue 15, items 1, 2, 7 and 11): a group is bound to its database
//! (two deployments with one Redis and one group name stay apart), a recreated database is
//! noticed at the next poll even with no new writes and across a restart, a deleted snapshot
//! row leaves `/api/snapshot` as it leaves `/api/variants`, and `/readyz` names no variant to
//! an anonymous caller when authentication is on.

use std::time::Duration;

use serde_json::{Value, json};
use signalgate::{
    auth::{JwtSecret, mint},
    config::DatabaseUrl,
};

use crate::common::{
    Backend, TestDb,
    app::TestApp,
    procs::{RedisServer, test_dir},
    sio::{Msg, Sio, seq},
    spawn_app, spawn_app_with, unique, wait_for,
    writer::{Writer, ev},
};

crate::backend_tests!(
    recreated_database_resets_at_once_without_writes,
    restart_on_a_recreated_database_resets_old_epochs,
    deleted_snapshot_row_leaves_the_snapshot_api,
);

const LONG: Duration = Duration::from_secs(60);

/// Drops every table of the gateway and migrates again: a new, empty database.
async fn recreate(app: &TestApp) {
    while app.store.migrate_down().await.expect("migrate down") {}
    app.store.migrate().await.expect("migrate again");
}

/// Waits for a `stream_reset` of `variant`, skipping other pushes.
async fn reset_of(c: &mut Sio, variant: &str) -> Value {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next(left).await {
            Some(Msg::Reset(r)) if r["variant"] == variant => return r,
            Some(_) => {}
            None => panic!("no stream_reset of {variant} within {LONG:?}"),
        }
    }
}

/// Events pushed until the socket stays quiet for 2 s.
async fn more_events(c: &mut Sio) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(m) = c.next(Duration::from_secs(2)).await {
        if let Msg::Event(e) = m {
            out.push(e);
        }
    }
    out
}

/// Item 2: dropped and recreated under a running gateway, nothing written afterwards. Both a
/// variant with events and one with only a snapshot start a new epoch at the next poll, and a
/// fresh subscribe gets nothing of the old database.
async fn recreated_database_resets_at_once_without_writes(b: Backend) {
    let app = spawn_app(b).await;
    let (ve, vs) = (unique("gone_ev"), unique("gone_snap"));
    let w = Writer::connect(&app.db, 2).await;
    let mut ce = Sio::connect(&app.base).await;
    let mut cs = Sio::connect(&app.base).await;
    let ack_e = ce.subscribe(json!({"variant": ve})).await;
    let ack_s = cs.subscribe(json!({"variant": vs})).await;
    let old_epoch = ack_e["epoch"].as_str().expect("epoch").to_owned();
    assert_eq!(
        ack_s["epoch"],
        old_epoch.as_str(),
        "one database, one initial epoch"
    );
    for n in 0..20 {
        w.event(&ev(&ve, n, "a.X")).await;
    }
    w.snapshot(&vs, "inst-01", &json!({"state": "old"})).await;
    ce.events_until(LONG, |e| e.len() >= 20).await;
    wait_for("the snapshot is served", LONG, || async {
        (app.get(&format!("/api/snapshot/{vs}")).await.0 == 200).then_some(())
    })
    .await;
    drop(w);

    recreate(&app).await;
    let re = reset_of(&mut ce, &ve).await;
    let rs = reset_of(&mut cs, &vs).await;
    assert_ne!(re["epoch"], old_epoch.as_str(), "{re}");
    assert_eq!(re["seq"], 0, "{re}");
    assert_eq!(re["epoch"], rs["epoch"], "the new database's epoch");

    let c = Sio::connect(&app.base).await;
    let ack = c.subscribe(json!({"variant": ve, "since_seq": 0})).await;
    assert_eq!(ack["events"], json!([]), "old events replayed: {ack}");
    assert_eq!(ack["epoch"], re["epoch"], "{ack}");
    let ack = c.subscribe(json!({"variant": vs})).await;
    assert_eq!(ack["snapshots"], json!([]), "old snapshot served: {ack}");
    let (status, _) = app.get(&format!("/api/snapshot/{vs}")).await;
    assert_eq!(status, 404, "the recreated database has no snapshot");
    c.close().await;
    ce.close().await;
    cs.close().await;
    app.finish().await;
}

/// Item 2: a gateway restarted on a database that was recreated while it was stopped tells a
/// client resuming with the old database's epoch to reset, even where the new history is
/// already longer than the old one (so `since_seq` alone cannot tell).
async fn restart_on_a_recreated_database_resets_old_epochs(b: Backend) {
    let mut app = spawn_app(b).await;
    let v = unique("restored");
    let w = Writer::connect(&app.db, 2).await;
    for n in 0..5 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    let ack = wait_for("5 events", LONG, || async {
        let c = Sio::connect(&app.base).await;
        let ack = c.subscribe(json!({"variant": v})).await;
        c.close().await;
        (ack["seq"] == 5).then_some(ack)
    })
    .await;
    let old_epoch = ack["epoch"].as_str().expect("epoch").to_owned();
    let (_, ready) = app.get("/readyz").await;
    let old_id = ready["database_id"]
        .as_str()
        .expect("database_id")
        .to_owned();
    assert!(old_epoch.starts_with(&old_id), "{old_epoch} / {ready}");
    app.stop().await;

    recreate(&app).await;
    for n in 100..110 {
        w.event(&ev(&v, n, "a.X")).await;
    }
    let db = app.db.clone();
    let app2 = spawn_app_with(db, |_| {}).await;
    let (_, ready) = app2.get("/readyz").await;
    assert_ne!(ready["database_id"], old_id.as_str(), "{ready}");
    let c = Sio::connect(&app2.base).await;
    let ack = c
        .subscribe(json!({"variant": v, "since_seq": 5, "epoch": old_epoch}))
        .await;
    assert_eq!(ack["reset"], true, "{ack}");
    assert_ne!(ack["epoch"], old_epoch.as_str(), "{ack}");
    c.close().await;
    drop(w);
    app2.finish().await;
    app.finish().await;
}

/// Item 11: a deleted snapshot row leaves `/api/snapshot` (and subscribe acks) at the next
/// poll, as it leaves `/api/variants`; subscribers are told to reload (`stream_reset`).
async fn deleted_snapshot_row_leaves_the_snapshot_api(b: Backend) {
    let app = spawn_app(b).await;
    let v = unique("deleted");
    let w = Writer::connect(&app.db, 2).await;
    w.snapshot(&v, "inst-01", &json!({"n": 1})).await;
    w.snapshot(&v, "inst-02", &json!({"n": 2})).await;
    let mut c = Sio::connect(&app.base).await;
    assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
    wait_for("both snapshots", LONG, || async {
        let (_, body) = app.get(&format!("/api/snapshot/{v}")).await;
        (body["snapshots"].as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await;

    w.exec(&format!(
        "DELETE FROM monitor_signal_snapshot WHERE variant = '{v}' AND instance_id = 'inst-02'"
    ))
    .await;
    reset_of(&mut c, &v).await;
    // The remaining rows are pushed again right after the reset.
    wait_for("only inst-01 served", LONG, || async {
        let (_, body) = app.get(&format!("/api/snapshot/{v}")).await;
        let instances: Vec<Value> = body["snapshots"]
            .as_array()?
            .iter()
            .map(|s| s["instance_id"].clone())
            .collect();
        (instances == vec![json!("inst-01")]).then_some(())
    })
    .await;
    let (_, list) = app.get("/api/variants").await;
    let listed = list["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .find(|x| x["variant"] == v.as_str())
        .expect("listed");
    assert_eq!(listed["instances"], json!(["inst-01"]), "{list}");
    let ack = c.subscribe(json!({"variant": v})).await;
    assert_eq!(ack["snapshots"].as_array().map(Vec::len), Some(1), "{ack}");
    c.close().await;
    drop(w);
    app.finish().await;
}

/// Item 7: with authentication on, `/readyz` names no variant to an anonymous probe (it gets
/// the aggregates) and only the granted ones to a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_names_only_granted_variants() {
    let secret = JwtSecret::new("readyz-secret-0123456789-abcdef");
    let s2 = secret.clone();
    let app = spawn_app_with(TestDb::create(Backend::Sqlite).await, |c| {
        c.auth.jwt_secret = Some(s2);
    })
    .await;
    let (mine, hidden) = (unique("granted"), unique("hidden"));
    let w = Writer::connect(&app.db, 1).await;
    w.event(&ev(&mine, 1, "a.X")).await;
    w.event(&ev(&hidden, 1, "a.X")).await;
    // `lag` lists the variants with numbered events.
    w.seqs(&mine).await;
    w.seqs(&hidden).await;

    let anonymous = wait_for("ready", LONG, || async {
        let (status, body) = app.get("/readyz").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(anonymous["lag"], json!({}), "{anonymous}");
    assert!(anonymous["lag_max"].is_u64(), "{anonymous}");
    assert!(anonymous["variants_behind"].is_u64(), "{anonymous}");
    assert!(!anonymous.to_string().contains(&hidden), "{anonymous}");

    let token = mint(&secret, "ops", vec![mine.clone()], Duration::from_secs(60)).expect("mint");
    let body: Value = app
        .http
        .get(format!("{}/readyz", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    let lag = body["lag"].as_object().expect("lag");
    assert!(lag.contains_key(&mine), "{body}");
    assert!(!lag.contains_key(&hidden), "{body}");
    drop(w);
    app.finish().await;
}

/// Item 1: two deployments share one Redis and the group name but not the database (MariaDB
/// and PostgreSQL). Each is its own group (its own leader) and each client receives exactly its
/// own database's events, none of the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_group_name_two_databases_stay_apart() {
    let dir = test_dir("identity");
    let redis = RedisServer::start(&dir).await;
    let group = unique("shared");
    let mut apps = Vec::new();
    for b in [Backend::MySql, Backend::Postgres] {
        let (url, group) = (redis.url(), group.clone());
        apps.push(
            spawn_app_with(TestDb::create(b).await, move |c| {
                c.redis.redis_url = Some(DatabaseUrl::new(url));
                c.redis.redis_group = group;
            })
            .await,
        );
    }
    for app in &apps {
        wait_for("leader of its own group", LONG, || async {
            let (status, body) = app.get("/readyz").await;
            (status == 200 && body["group"]["role"] == "leader").then_some(())
        })
        .await;
        let (_, body) = app.get("/readyz").await;
        assert_eq!(body["group"]["name"], group.as_str(), "{body}");
        assert_eq!(body["group"]["database_id"], body["database_id"], "{body}");
    }

    let v = unique("same_name");
    let mut clients = Vec::new();
    for app in &apps {
        let c = Sio::connect(&app.base).await;
        assert_eq!(c.subscribe(json!({"variant": v})).await["ok"], true);
        clients.push(c);
    }
    // Database 0 gets events 0..10 (symbol a.X), database 1 gets 100..103 (symbol b.Y).
    let w0 = Writer::connect(&apps[0].db, 1).await;
    let w1 = Writer::connect(&apps[1].db, 1).await;
    for n in 0..10 {
        w0.event(&ev(&v, n, "a.X")).await;
    }
    for n in 100..103 {
        w1.event(&ev(&v, n, "b.Y")).await;
    }
    let got0 = clients[0].events_until(LONG, |e| e.len() >= 10).await;
    let got1 = clients[1].events_until(LONG, |e| e.len() >= 3).await;
    // Anything foreign would arrive with or right after the own events.
    let late0 = more_events(&mut clients[0]).await;
    let late1 = more_events(&mut clients[1]).await;
    let symbols = |e: &[Value]| -> Vec<String> {
        e.iter()
            .map(|x| x["vt_symbol"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(symbols(&got0).iter().all(|s| s == "a.X"), "{got0:?}");
    assert!(symbols(&got1).iter().all(|s| s == "b.Y"), "{got1:?}");
    assert_eq!(
        got0.iter().map(seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        got1.iter().map(seq).collect::<Vec<_>>(),
        (1..=3).collect::<Vec<_>>()
    );
    assert!(late0.is_empty() && late1.is_empty(), "{late0:?} {late1:?}");
    for c in clients {
        c.close().await;
    }
    drop((w0, w1));
    for app in apps {
        app.finish().await;
    }
    drop(redis);
}
