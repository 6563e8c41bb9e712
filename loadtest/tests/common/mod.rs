//! Shared by the loadtest's integration tests: the signalgate binary (built with cargo when it is
//! not next to the test binary yet) and the database servers (`SIGNALGATE_TEST_MYSQL_URL`,
//! `SIGNALGATE_TEST_POSTGRES_URL`, as for the gateway's own tests).

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use signalgate_loadtest::{scenario::Opts, server::bin_dir};

/// The signalgate binary of this workspace's target directory.
pub fn signalgate_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LOADTEST_SIGNALGATE_BIN") {
        return p.into();
    }
    let bin = bin_dir().join("signalgate");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "signalgate", "--bin", "signalgate"])
            .status()
            .expect("run cargo build for the signalgate binary");
        assert!(status.success(), "cargo build -p signalgate failed");
    }
    assert!(bin.exists(), "{} missing after cargo build", bin.display());
    bin
}

/// MariaDB server URL (no database).
pub fn mysql() -> String {
    std::env::var("SIGNALGATE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// PostgreSQL server URL (no database).
pub fn postgres() -> String {
    std::env::var("SIGNALGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Options for a small, quiet run against signalgate on `db`, reports in a temp directory.
pub fn opts(db: &str) -> Opts {
    let mut o = Opts::new(db);
    o.signalgate_bin = Some(signalgate_bin());
    o.quiet = true;
    o.out = std::env::temp_dir().join(format!("signalgate-loadtest-{}", std::process::id()));
    o
}
