//! Load generator for signalgate and its peers (Node socket.io, Flask-SocketIO, a raw WebSocket
//! broadcast server).
//!
//! It starts the server under test itself on a fresh `sgt_<random>` database, connects many lean
//! Socket.IO clients, runs seed-column writers at a fixed rate, and measures commit → client
//! latency, delivered messages per second, lost and duplicate events per client, and the server's
//! CPU seconds and RSS from `/proc`.
//!
//! # Layout
//! - [`sio`]: the lean Engine.IO 4 / Socket.IO 5 websocket client (and the raw-frame variant);
//! - [`client`]: one subscribed client's receive loop and its counters;
//! - [`writer`]: seed-column writers (MariaDB/MySQL, PostgreSQL, or the raw peer's publisher);
//! - [`ledger`]: what the writers committed, shared with the clients for loss and latency;
//! - [`db`]: scratch databases and the plain seed schema;
//! - [`server`]: starting and stopping the server under test, `/proc` sampling;
//! - [`cluster`]: the `group` scenario's private Redis, instances and nginx;
//! - [`scenario`]: `idle`, `fanout`, `spread`, `burst`, `resume`, `writers`, `group`;
//! - [`stmtcount`]: a counting proxy between the server under test and its database
//!   (statements per second, attributed to that server only);
//! - [`report`]: the JSON report and the self-contained HTML report.

pub mod client;
pub mod cluster;
pub mod db;
pub mod ledger;
pub mod report;
pub mod scenario;
pub mod server;
pub mod sio;
pub mod stmtcount;
pub mod writer;

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the clock every latency is measured with (writers and
/// clients run in this one process, so they share it).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A unique run id (microseconds since the epoch and a process-wide counter): event keys stay
/// unique across runs on one database.
pub fn run_id() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{:x}{}",
        now_us(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}
