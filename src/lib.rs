//! signalgate: a real-time gateway between strategy databases and dashboards.
//!
//! Strategies (VnPy and the like) write their current state into `monitor_signal_snapshot` and
//! what happened into `monitor_signal_event`. signalgate polls both by a commit-ordered cursor,
//! pushes `snapshot_update` / `event_new` over Socket.IO into per-variant rooms, and answers first
//! paint over REST (snapshots, event ranges, OHLC bars from VnPy's `dbbardata`).
//!
//! # Layout
//! - [`config`]: CLI flags, `SIGNALGATE_*` env vars, optional TOML file.
//! - [`telemetry`]: tracing set-up.
//! - [`domain`]: validated identifiers and the JSON shapes shared by REST and Socket.IO.
//! - [`store`]: the `Store` trait and its MySQL, PostgreSQL and SQLite implementations.
//! - [`poller`]: reads changes by `seq` / `version` and publishes them on the [`bus`].
//! - [`bus`]: poller → hub transport (in-process today, Redis for scale-out later).
//! - [`realtime`]: the hub (snapshot cache, event rings, fan-out) and Socket.IO handlers.
//! - [`http`]: REST routes and the error type.
//! - [`web`]: embedded static assets.
//! - [`demo`]: the demo strategy writer.
//! - [`startup`]: [`Application`] wires it all together.

pub mod bus;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod poller;
pub mod realtime;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;

pub use startup::{Application, BuildOptions};
