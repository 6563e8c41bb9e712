//! HTTP connections are bounded in time and number (src/serve.rs), over raw TCP: a silent
//! connection and one that sends its headers a byte at a time are closed after the header
//! timeout, an idle kept-alive connection after the idle timeout (not before), a long-polling
//! request held longer than the idle timeout is answered, and connections beyond
//! `--max-http-connections` get 503 at once while the others keep their slots.

use std::time::{Duration, Instant};

use signalgate::config::Config;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::{Backend, TestDb, app::build, app::test_config, wait_for};

/// Slack for a loaded test machine on top of a configured bound.
const SLACK: Duration = Duration::from_secs(4);

/// A gateway with `tweak`ed settings, served without any HTTP client of its own (no pooled
/// connection takes a slot); returns its address, the stop sender and the database.
async fn serve(
    tweak: impl FnOnce(&mut Config),
) -> (String, tokio::sync::oneshot::Sender<()>, TestDb) {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    let app = build(config).await;
    let addr = app.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (addr, stop, db)
}

/// Reads until the server closes the connection (EOF or reset); how long that took from
/// `since`, or `None` if it stayed open for `limit`.
async fn closed_after(s: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(since.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one HTTP/1.1 response with a `content-length` body: (head, body).
async fn read_response(s: &mut TcpStream) -> (String, String) {
    try_response(s).await.expect("a complete response")
}

/// [`read_response`], or `None` if the connection ends first.
async fn try_response(s: &mut TcpStream) -> Option<(String, String)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let len: usize = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })?;
            while data.len() < end + 4 + len {
                let n = s.read(&mut buf).await.ok().filter(|n| *n > 0)?;
                data.extend_from_slice(&buf[..n]);
            }
            let body = String::from_utf8_lossy(&data[end + 4..end + 4 + len]).to_string();
            return Some((head, body));
        }
        let n = s.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silent_half_sent_and_idle_connections_are_closed() {
    let header = Duration::from_millis(1000);
    let idle = Duration::from_millis(3000);
    let (addr, _stop, db) = serve(|c| {
        c.http.http_header_timeout_ms = header.as_millis() as u64;
        c.http.http_idle_timeout_ms = idle.as_millis() as u64;
    })
    .await;
    let limit = idle + SLACK * 2;

    let silent = async {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        closed_after(&mut s, Instant::now(), limit).await
    };
    let trickle = async {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let start = Instant::now();
        let (mut rd, mut wr) = s.split();
        // One header byte every 200 ms, for ever: the head never completes.
        let writer = async {
            for b in b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if wr.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let mut buf = [0u8; 256];
        let reader = async {
            loop {
                let left = limit.checked_sub(start.elapsed())?;
                match tokio::time::timeout(left, rd.read(&mut buf)).await {
                    Err(_) => return None,
                    Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
                    Ok(Ok(_)) => {}
                }
            }
        };
        tokio::select! {
            closed = reader => closed,
            _ = writer => Some(start.elapsed()),
        }
    };
    let kept_alive = async {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            .await
            .expect("request");
        let (head, body) = read_response(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(body.contains("ok"), "{body}");
        closed_after(&mut s, Instant::now(), limit).await
    };
    let (silent, trickle, kept_alive) = tokio::join!(silent, trickle, kept_alive);

    let silent = silent.expect("a silent connection is closed");
    assert!(
        silent >= header.mul_f32(0.9) && silent <= header + SLACK,
        "{silent:?}"
    );
    let trickle = trickle.expect("a connection trickling its headers is closed");
    assert!(trickle <= header + SLACK, "{trickle:?}");
    let kept_alive = kept_alive.expect("an idle kept-alive connection is closed");
    // Closed by the idle timeout, not by the (shorter) header timeout.
    assert!(
        kept_alive >= idle.mul_f32(0.9) && kept_alive <= idle + SLACK,
        "{kept_alive:?}"
    );
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_held_long_polling_request_is_not_idle() {
    let idle = Duration::from_millis(1000);
    let ping = Duration::from_millis(3000);
    let (addr, _stop, db) = serve(|c| {
        c.http.http_header_timeout_ms = idle.as_millis() as u64;
        c.http.http_idle_timeout_ms = idle.as_millis() as u64;
        c.realtime.ping_interval_ms = ping.as_millis() as u64;
    })
    .await;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("handshake");
    let (head, body) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let open: serde_json::Value =
        serde_json::from_str(body.trim_start_matches('0')).expect("open packet");
    let sid = open["sid"].as_str().expect("sid").to_owned();

    let poll = format!(
        "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: gateway\r\n\r\n"
    );
    let pong = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: gateway\r\n\
         content-type: text/plain\r\ncontent-length: 1\r\n\r\n3"
    );
    // The first ping comes at once; answer it, then the next poll is held until the next ping,
    // longer than the idle timeout.
    s.write_all(poll.as_bytes()).await.expect("poll");
    let (head, body) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "2", "the first ping");
    s.write_all(pong.as_bytes()).await.expect("pong");
    let (head, _) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let held = Instant::now();
    s.write_all(poll.as_bytes()).await.expect("poll");
    let (head, body) = tokio::time::timeout(ping + SLACK, read_response(&mut s))
        .await
        .expect("the held poll is answered");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "2", "the next ping");
    assert!(held.elapsed() > idle * 2, "held for {:?}", held.elapsed());
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_beyond_the_limit_get_503() {
    let header = Duration::from_millis(1500);
    let (addr, _stop, db) = serve(|c| {
        c.http.http_header_timeout_ms = header.as_millis() as u64;
        c.http.max_http_connections = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    // Give the accept loop the three before the fourth: each is answered once accepted.
    let mut extra = TcpStream::connect(&addr).await.expect("connect");
    let (head, body) = tokio::time::timeout(SLACK, read_response(&mut extra))
        .await
        .expect("the fourth connection is answered at once");
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(json["error"]["code"], "too_many_connections", "{body}");

    // Once the silent ones are closed by the header timeout, requests are served again.
    wait_for("a free slot", header + SLACK, || {
        let addr = addr.clone();
        async move {
            let mut s = TcpStream::connect(&addr).await.ok()?;
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
                .await
                .ok()?;
            let (head, _) = try_response(&mut s).await?;
            head.starts_with("HTTP/1.1 200").then_some(())
        }
    })
    .await;
    drop(held);
    db.drop_db().await;
}
