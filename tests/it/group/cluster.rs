//! A group of gateway processes on one test database and a private Redis, optionally behind
//! nginx; clients that follow a variant through reconnects; database load counters.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// Now, in unix milliseconds (compared with the gateways' own timestamps).
pub fn unix_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::watch;

use crate::common::{
    Backend, TestDb,
    procs::{Gateway, GatewayArgs, Nginx, RedisServer, test_dir},
    sio::{Mode, Msg, Sio, seq},
    unique, wait_for,
};

/// The lease in these tests: failover must finish within it (plus one attempt interval).
pub const TTL_MS: u64 = 2000;

/// Gateways, Redis and nginx of one test.
pub struct Cluster {
    pub dir: PathBuf,
    pub db: TestDb,
    pub redis: RedisServer,
    pub args: GatewayArgs,
    pub gws: Vec<Gateway>,
    pub nginx: Option<Nginx>,
}

impl Cluster {
    /// A database and a Redis (started unless `redis_down`); no gateway yet.
    pub async fn new(b: Backend, redis_down: bool) -> Self {
        let dir = test_dir("group");
        let db = TestDb::create(b).await;
        let redis = if redis_down {
            RedisServer::reserve(&dir)
        } else {
            RedisServer::start(&dir).await
        };
        let args = GatewayArgs {
            database_url: db.url.clone(),
            redis_url: redis.url(),
            group: unique("g"),
            lease_ttl_ms: TTL_MS,
            poll_interval_ms: 50,
            env: Vec::new(),
        };
        eprintln!("group test files: {}", dir.display());
        Self {
            dir,
            db,
            redis,
            args,
            gws: Vec::new(),
            nginx: None,
        }
    }

    /// Starts one more gateway (with extra env) and waits until it is ready; returns its index.
    pub async fn add(&mut self, env: &[(&str, &str)]) -> usize {
        let mut args = self.args.clone();
        args.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let name = format!("gw{}", self.gws.len());
        self.gws.push(Gateway::start(&self.dir, &name, &args).await);
        self.gws.len() - 1
    }

    /// nginx in front of every gateway started so far.
    pub async fn start_nginx(&mut self) -> String {
        let ports: Vec<u16> = self.gws.iter().map(|g| g.port).collect();
        let nginx = Nginx::start(&self.dir, &ports).await;
        let base = nginx.base();
        self.nginx = Some(nginx);
        base
    }

    /// `(index, role, term)` of every running gateway that answers.
    pub async fn roles(&self) -> Vec<(usize, String, u64)> {
        let mut out = Vec::new();
        for (i, g) in self.gws.iter().enumerate() {
            if g.is_running()
                && let Some((role, term)) = g.role().await
            {
                out.push((i, role, term));
            }
        }
        out
    }

    /// Waits until exactly one running gateway leads (term above `after`) and every other
    /// running one follows; returns the leader's index and term.
    pub async fn wait_one_leader(&self, after: u64, timeout: Duration) -> (usize, u64) {
        let running = self.gws.iter().filter(|g| g.is_running()).count();
        wait_for(
            "exactly one leader, the rest followers",
            timeout,
            || async {
                let roles = self.roles().await;
                let leaders: Vec<_> = roles.iter().filter(|r| r.1 == "leader").collect();
                let followers = roles.iter().filter(|r| r.1 == "follower").count();
                match leaders.as_slice() {
                    [l] if l.2 > after && followers + 1 == running => Some((l.0, l.2)),
                    _ => None,
                }
            },
        )
        .await
    }

    /// How long after `since` (unix ms) a running gateway became leader with a term above
    /// `after`, by the new leader's own clock (`/readyz` may answer late under load).
    pub async fn time_to_new_leader(&self, after: u64, since: i64) -> Duration {
        let at = wait_for("a new leader", Duration::from_secs(15), || async {
            for g in self.gws.iter().filter(|g| g.is_running()) {
                let Some((_, body)) = g.readyz().await else {
                    continue;
                };
                let group = &body["group"];
                if group["role"] == "leader" && group["term"].as_u64().unwrap_or(0) > after {
                    return group["leader_since_unix_ms"].as_i64();
                }
            }
            None
        })
        .await;
        Duration::from_millis(u64::try_from(at - since).unwrap_or(0))
    }

    /// Stops everything gracefully and drops the database.
    pub async fn finish(mut self) {
        if let Some(n) = self.nginx.take() {
            n.stop().await;
        }
        for g in &mut self.gws {
            if g.is_running() {
                g.terminate();
                g.wait_exit().await;
            }
        }
        self.redis.kill().await;
        self.db.drop_db().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one client saw.
#[derive(Debug)]
pub struct Followed {
    /// The position of the first subscribe: the events are those after it.
    pub start: i64,
    pub events: Vec<Value>,
    pub reconnects: u32,
}

/// Connects through `base` as `addr` and subscribes from `since`; `None` if either fails.
async fn join(base: &str, addr: &str, variant: &str, since: Option<i64>) -> Option<(Sio, Value)> {
    let c = Sio::try_connect_as(base, Mode::Normal, Some(addr))
        .await
        .ok()?;
    let mut req = json!({"variant": variant});
    if let Some(s) = since {
        req["since_seq"] = json!(s);
    }
    match c.try_request("subscribe", req).await {
        Some(ack) if ack["ok"] == true => {
            assert_eq!(ack["truncated"], false, "resume fits in one ack: {ack}");
            Some((c, ack))
        }
        _ => {
            c.close().await;
            None
        }
    }
}

/// A client subscribed to `variant` through `base`, announcing itself as `addr`.
pub async fn subscribe(base: &str, addr: &str, variant: &str) -> (Sio, i64) {
    let (c, ack) = join(base, addr, variant, None)
        .await
        .unwrap_or_else(|| panic!("client {addr} subscribes"));
    let head = ack["seq"].as_i64().expect("ack seq");
    (c, head)
}

/// Follows the variant until the last seq reaches the `target` (0 = not known yet),
/// reconnecting through `base` and resuming with `since_seq` whenever the connection closes.
pub async fn follow(
    mut c: Sio,
    mut last: i64,
    base: String,
    addr: String,
    variant: String,
    mut target: watch::Receiver<i64>,
    timeout: Duration,
) -> Followed {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Followed {
        start: last,
        events: Vec::new(),
        reconnects: 0,
    };
    loop {
        let goal = *target.borrow_and_update();
        if goal > 0 && last >= goal {
            c.close().await;
            return out;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "client {addr}: stuck at seq {last} of {goal} after {timeout:?} ({} reconnects)",
            out.reconnects
        );
        let msg = match c.next(Duration::from_millis(500)).await {
            // Quiet: make sure the connection is still there (a cleanly closed one is silent).
            None if !c.alive().await => Some(Msg::Closed),
            other => other,
        };
        match msg {
            Some(Msg::Event(e)) => {
                last = seq(&e);
                out.events.push(e);
            }
            Some(Msg::Snapshot(_)) | None => {}
            Some(Msg::Reset(r)) => panic!("client {addr}: unexpected stream reset {r}"),
            Some(Msg::Bar(b)) => panic!("client {addr}: unexpected bar_update {b}"),
            Some(Msg::Overview(o)) => panic!("client {addr}: unexpected overview_update {o}"),
            Some(Msg::Closed) => {
                c.close().await;
                c = loop {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "client {addr}: cannot reconnect"
                    );
                    if let Some((c, ack)) = join(&base, &addr, &variant, Some(last)).await {
                        out.events
                            .extend(ack["events"].as_array().cloned().unwrap_or_default());
                        last = ack["seq"].as_i64().expect("ack seq");
                        break c;
                    }
                    // Retry pacing while nginx still tries the dead instance.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                out.reconnects += 1;
            }
        }
    }
}

/// Every event of `all` (the database's seqs) after the client's start exactly once, in order.
pub fn assert_exactly_once(f: &Followed, all: &[i64], who: &str) {
    let got: Vec<i64> = f.events.iter().map(seq).collect();
    let want: Vec<i64> = all.iter().copied().filter(|s| *s > f.start).collect();
    if got != want {
        let dup = got.windows(2).find(|w| w[0] >= w[1]);
        panic!(
            "{who}: {} events after {}, want {}; first out of order/duplicate pair {dup:?}",
            got.len(),
            f.start,
            want.len()
        );
    }
}

/// A database's own count of the work it did: PostgreSQL commits in the test database; MariaDB
/// has no per-database counter without reconfiguring the server, so the global `Com_select`.
pub async fn db_counter(db: &TestDb) -> i64 {
    match db.backend {
        Backend::Postgres => {
            let base = db.url.rsplit_once('/').map_or("", |(b, _)| b);
            let mut c = sqlx::PgConnection::connect(&format!("{base}/postgres"))
                .await
                .expect("stats connection");
            sqlx::query_scalar::<_, i64>(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
            )
            .bind(&db.name)
            .fetch_one(&mut c)
            .await
            .expect("pg_stat_database")
        }
        _ => {
            let base = db.url.rsplit_once('/').map_or("", |(b, _)| b);
            let mut c = sqlx::MySqlConnection::connect(base)
                .await
                .expect("stats connection");
            let (_, v): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_select'")
                .fetch_one(&mut c)
                .await
                .expect("global status");
            v.parse().expect("counter")
        }
    }
}

/// The database's work rate (per second) while the gateways idle. MariaDB's counter is global
/// (other tests on the server add to it), so the quietest of several short windows counts.
pub async fn db_rate(db: &TestDb) -> f64 {
    let (windows, each) = match db.backend {
        Backend::Postgres => (1, Duration::from_secs(4)),
        _ => (8, Duration::from_millis(500)),
    };
    let mut best = f64::MAX;
    for _ in 0..windows {
        let (a, t) = (db_counter(db).await, Instant::now());
        tokio::time::sleep(each).await; // the measurement window itself
        let b = db_counter(db).await;
        best = best.min((b - a) as f64 / t.elapsed().as_secs_f64());
    }
    best
}
