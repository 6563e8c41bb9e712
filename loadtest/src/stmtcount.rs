//! Statements per second of one server, attributed exactly: a TCP proxy on 127.0.0.1 between the
//! server under test and its database that forwards every byte unchanged and counts the
//! statements the server sends. MySQL/MariaDB: command packets (sequence id 0) `COM_QUERY` and
//! `COM_STMT_EXECUTE`. PostgreSQL: `Q` (simple query) and `E` (execute) messages; an
//! `SSLRequest`/`GSSENCRequest` is answered `N` by the proxy, so the session stays plaintext
//! and readable (the servers under test use no TLS to a local database anyway).
//!
//! The database's own counters would not do on a shared machine: MariaDB's `Com_select` is
//! global (other clients' statements count too), `performance_schema` and `userstat` are off and
//! switching them on would reconfigure a shared server, and PostgreSQL's `pg_stat_statements` is
//! not preloaded. The proxy adds one loopback hop per round trip, for every server alike.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use anyhow::Context;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// PostgreSQL's `SSLRequest` and `GSSENCRequest` codes (protocol documentation, "Message
/// Formats").
const PG_SSL_REQUEST: u32 = 80_877_103;
const PG_GSSENC_REQUEST: u32 = 80_877_104;
/// MySQL command bytes: `COM_QUERY`, `COM_STMT_EXECUTE`.
const MY_COM_QUERY: u8 = 0x03;
const MY_COM_STMT_EXECUTE: u8 = 0x17;

/// A running counting proxy.
pub struct StmtProxy {
    /// The database URL to give the server under test (host and port replaced by the proxy's).
    pub url: String,
    count: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

/// `(scheme://userinfo@, host:port, /rest)` of a database URL.
fn split_url(url: &str) -> anyhow::Result<(String, String, String)> {
    let (scheme, rest) = url.split_once("://").context("a database URL has ://")?;
    let (user, rest) = match rest.rsplit_once('@') {
        Some((u, r)) => (format!("{u}@"), r),
        None => (String::new(), rest),
    };
    let (hostport, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let default_port = if scheme.starts_with("postgres") {
        5432
    } else {
        3306
    };
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    };
    Ok((format!("{scheme}://{user}"), hostport, path.to_owned()))
}

impl StmtProxy {
    /// Starts a proxy in front of the database of `url`.
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        let (head, upstream, path) = split_url(url)?;
        let pg = url.starts_with("postgres");
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, c) = (upstream.clone(), c.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        let _ = relay(client, server, pg, c).await;
                    }
                });
            }
        });
        Ok(Self {
            url: format!("{head}127.0.0.1:{port}{path}"),
            count,
            task,
        })
    }

    /// Statements counted so far.
    pub fn statements(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for StmtProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards both directions; counts the client's statements.
async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    pg: bool,
    count: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    if pg {
        pg_startup(&mut client, &mut server).await?;
    }
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let down = tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
    let mut parser = Parser::new(pg);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = cr.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        count.fetch_add(parser.feed(&buf[..n]), Ordering::Relaxed);
        sw.write_all(&buf[..n]).await?;
    }
    let _ = sw.shutdown().await;
    down.abort();
    Ok(())
}

/// PostgreSQL's untyped start: answers encryption requests `N`, forwards the startup message.
async fn pg_startup(client: &mut TcpStream, server: &mut TcpStream) -> anyhow::Result<()> {
    loop {
        let mut head = [0u8; 8];
        client.read_exact(&mut head).await?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if len == 8 && (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST) {
            client.write_all(b"N").await?;
            continue;
        }
        let mut rest = vec![0u8; len.saturating_sub(8)];
        client.read_exact(&mut rest).await?;
        server.write_all(&head).await?;
        server.write_all(&rest).await?;
        return Ok(());
    }
}

/// Splits the client's byte stream into messages and counts the statements.
struct Parser {
    pg: bool,
    /// Bytes of the current header seen so far.
    head: Vec<u8>,
    /// Body bytes still to skip.
    skip: usize,
}

impl Parser {
    fn new(pg: bool) -> Self {
        Self {
            pg,
            head: Vec::with_capacity(5),
            skip: 0,
        }
    }

    /// Header bytes needed to know a message's kind and length: PostgreSQL type + length;
    /// MySQL length + sequence id + the command byte.
    fn head_len(&self) -> usize {
        5
    }

    /// Feeds bytes; returns the statements that started in them.
    fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut found = 0;
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let need = self.head_len() - self.head.len();
            let n = need.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.head.len() < self.head_len() {
                break;
            }
            let h = std::mem::take(&mut self.head);
            if self.pg {
                // type, then the length counting itself but not the type byte
                let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                found += u64::from(h[0] == b'Q' || h[0] == b'E');
                self.skip = len.saturating_sub(4);
            } else {
                // 3-byte little-endian payload length, sequence id, first payload byte
                let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
                let command = h[3] == 0 && len > 0;
                found +=
                    u64::from(command && (h[4] == MY_COM_QUERY || h[4] == MY_COM_STMT_EXECUTE));
                // The command byte was part of the payload (an empty payload has none: rewind).
                if len == 0 {
                    self.head.push(h[4]);
                }
                self.skip = len.saturating_sub(1);
            }
        }
        found
    }
}

/// The poller's own count of its statements, if the gateway exports one.
pub const POLL_STATEMENTS_METRIC: &str = "signalgate_poll_statements_total";

/// The sum of every series of the Prometheus counter `name` at `<base>/metrics`; `None` when the
/// server has no `/metrics` or no such counter (older gateways, the peers).
pub async fn metric_total(base: &str, name: &str) -> Option<f64> {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", base.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .text()
        .await
        .ok()?;
    sum_metric(&text, name)
}

fn sum_metric(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_metric_is_none_and_series_are_summed() {
        let text = "# TYPE signalgate_poll_statements_total counter\nsignalgate_poll_statements_total{kind=\"events\"} 5\nsignalgate_poll_statements_total{kind=\"snapshots\"} 7\nsignalgate_poll_statements_total_x 100\n";
        assert_eq!(sum_metric(text, POLL_STATEMENTS_METRIC), Some(12.0));
        assert_eq!(sum_metric("other 1\n", POLL_STATEMENTS_METRIC), None);
    }

    use super::*;

    #[test]
    fn urls_point_at_the_proxy_and_keep_user_and_database() {
        let (h, hp, p) = split_url("mysql://root:pw@127.0.0.1:3306/sgt_x?a=b").expect("url");
        assert_eq!(
            (h.as_str(), hp.as_str(), p.as_str()),
            ("mysql://root:pw@", "127.0.0.1:3306", "/sgt_x?a=b")
        );
        let (_, hp, p) = split_url("postgres://postgres@localhost/db").expect("url");
        assert_eq!((hp.as_str(), p.as_str()), ("localhost:5432", "/db"));
    }

    #[test]
    fn counts_statements_split_anywhere_in_the_stream() {
        // PostgreSQL: Parse, Bind, Execute, Sync, then a simple Query.
        let mut pg = Vec::new();
        for (t, body) in [
            (b'P', &b"xx"[..]),
            (b'B', b"y"),
            (b'E', b"\0\0\0\0\0"),
            (b'S', b""),
            (b'Q', b"SELECT 1\0"),
        ] {
            pg.push(t);
            pg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            pg.extend_from_slice(body);
        }
        // MySQL: COM_QUERY, COM_STMT_PREPARE (0x16), COM_STMT_EXECUTE, COM_PING (0x0e).
        let mut my = Vec::new();
        for payload in [
            &b"\x03SELECT 1"[..],
            b"\x16SELECT ?",
            b"\x17\x01\0\0\0",
            b"\x0e",
        ] {
            let n = payload.len();
            my.extend_from_slice(&[n as u8, (n >> 8) as u8, (n >> 16) as u8, 0]);
            my.extend_from_slice(payload);
        }
        for (pg_mode, bytes) in [(true, pg), (false, my)] {
            for chunk in [1, 2, 3, 7, 1000] {
                let mut p = Parser::new(pg_mode);
                let n: u64 = bytes.chunks(chunk).map(|c| p.feed(c)).sum();
                assert_eq!(n, 2, "pg {pg_mode}, chunks of {chunk}");
            }
        }
    }
}
