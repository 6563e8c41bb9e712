//! The binary as an operator meets it: no password ever reaches a log line or an error
//! message, whatever form the database URL or the config file takes; logs have no colour codes
//! when stderr is not a terminal; start-up errors name the address or key at fault.

use std::process::{Command, Output};

const SECRET: &str = "s3cretQ9";

/// Runs `signalgate` with `args` (and a short acquire timeout), returning its output.
fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signalgate"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGNALGATE_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.args(["--db-acquire-timeout-ms", "300", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run signalgate")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn passwords_never_reach_logs_or_errors() {
    let dir = std::env::temp_dir().join(format!("sg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad_toml = dir.join("bad.toml");
    std::fs::write(
        &bad_toml,
        format!("database_url = \"mysql://gw:{SECRET}@db/app\nlisten = 3\n"),
    )
    .expect("write toml");
    let typed_toml = dir.join("typed.toml");
    std::fs::write(
        &typed_toml,
        format!("database_url = \"mysql://gw:{SECRET}@127.0.0.1:1/app\"\npoll_batch = \"ten\"\n"),
    )
    .expect("write toml");
    let urls = [
        format!("mysql://gw:{SECRET}@127.0.0.1:1/app"),
        format!("postgres://gw@127.0.0.1:1/app?password={SECRET}"),
        format!("postgres://gw@127.0.0.1:1/app?sslmode=disable&PASSWORD={SECRET}"),
        format!("mysql://gw:pa/{SECRET}@127.0.0.1:1/app"),
        format!("mysql://gw:{SECRET}?x@127.0.0.1:1/app"),
        format!("gw:{SECRET}@127.0.0.1:1/app"),
        format!("mariadb://gw:{SECRET}@"),
    ];
    let mut runs: Vec<(String, Output)> = urls
        .iter()
        .map(|u| (u.clone(), run(&["--database-url", u, "migrate"])))
        .collect();
    for file in [&bad_toml, &typed_toml] {
        let path = file.to_str().expect("utf-8 path");
        runs.push((path.to_owned(), run(&["--config", path, "migrate"])));
    }
    for (what, out) in &runs {
        let all = text(out);
        assert!(!out.status.success(), "{what}: should fail\n{all}");
        assert!(!all.contains(SECRET), "{what}: password leaked:\n{all}");
        assert!(
            !all.contains('\u{1b}'),
            "{what}: colour codes in a pipe:\n{all}"
        );
    }
    // The errors still say what is wrong.
    assert!(text(&runs[7].1).contains("line 1"), "{}", text(&runs[7].1));
    assert!(
        text(&runs[8].1).contains("poll_batch"),
        "{}",
        text(&runs[8].1)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_address_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let db = std::env::temp_dir().join(format!("sg-cli-addr-{}.db", std::process::id()));
    let url = format!("sqlite://{}", db.display());
    let out = run(&["--database-url", &url, "serve", "--listen", &addr]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains(&addr), "the error names {addr}:\n{all}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
