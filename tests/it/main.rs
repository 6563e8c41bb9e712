//! Integration tests: the same test bodies against real MariaDB, PostgreSQL and SQLite, through
//! real HTTP and a real Socket.IO client. Each test gets its own database (`sgt_*`).

mod auth;
mod bars;
mod cli;
mod common;
mod group;
mod hardening;
mod history_budget;
mod lifecycle;
mod limits;
mod metrics;
mod openapi;
mod partitions;
mod realtime;
mod rest;
mod rest_fuzz;
mod retention;
mod schema;
mod shutdown;
mod store;
mod store_backends;
mod store_data;
