//! Integration tests: the same test bodies against real MariaDB, PostgreSQL and SQLite, through
//! real HTTP and a real Socket.IO client. Each test gets its own database (`sgt_*`).

mod adopt;
mod auth;
mod bars;
mod bars_resample;
mod cli;
mod common;
mod critical_tasks;
mod db_down;
mod delivery;
mod gap_fill;
mod group;
mod hardening;
mod history_budget;
mod http_timeouts;
mod identity;
mod lifecycle;
mod limits;
mod log_secrets;
mod metrics;
mod openapi;
mod overview;
mod partitions;
mod realtime;
mod rest;
mod rest_fuzz;
mod retention;
mod rooms;
mod schema;
mod sequencing;
mod shutdown;
mod store;
mod store_backends;
mod store_data;
mod tokens;
