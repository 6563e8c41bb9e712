//! Admission of Socket.IO connections, per instance: at most `--max-connections` sockets, and
//! the CORS allow-list applied to the handshake's `Origin` (browsers do not apply CORS to
//! websockets, so the server must). Both are checked in connect middleware ([`admit`]) before
//! authentication; a refused client gets `connect_error` with the reason, the refusal is logged
//! and counted in `signalgate_connections_refused_total{reason}`.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use socketioxide::extract::{SocketRef, State};

/// What a connecting socket is checked against.
#[derive(Debug)]
pub struct Admission {
    max: usize,
    /// Allowed `Origin`s; `None` allows any.
    origins: Option<Vec<String>>,
    open: Arc<AtomicUsize>,
}

/// Held in a socket's extensions: frees its slot when the socket is dropped.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a connection was refused (sent as `connect_error`'s message).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The instance is full.
    #[error("too many connections: this instance accepts {0}; retry later or elsewhere")]
    Full(usize),
    /// The page's origin is not in `--cors-origin`.
    #[error("origin not allowed: {0}")]
    Origin(String),
}

impl Admission {
    /// At most `max_connections` sockets; `origins` is the effective CORS allow-list.
    pub fn new(max_connections: usize, origins: &[String]) -> Self {
        Self {
            max: max_connections,
            origins: (!origins.iter().any(|o| o == "*")).then(|| origins.to_vec()),
            open: Arc::default(),
        }
    }

    /// Connections currently holding a slot.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to (its `Host`
/// header): the gateway's own pages (the dashboard) need no `--cors-origin` entry.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(origin_host) = url.host_str() else {
        return false;
    };
    let authority = match url.port() {
        Some(port) => format!("{origin_host}:{port}"),
        None => origin_host.to_owned(),
    };
    // `Host` omits the scheme's default port, as `Url::port` does.
    authority.eq_ignore_ascii_case(host)
}

/// Connect middleware: checks the handshake's `Origin` and takes a connection slot.
pub async fn admit(socket: SocketRef, State(adm): State<Arc<Admission>>) -> Result<(), Refused> {
    let refuse = |err: Refused, reason: &'static str| {
        tracing::warn!(sid = %socket.id, %err, "Socket.IO connection refused");
        metrics::counter!("signalgate_connections_refused_total", "reason" => reason).increment(1);
        Err(err)
    };
    if let Some(allowed) = &adm.origins {
        // Only browsers send `Origin`; other clients are not subject to CORS.
        let headers = &socket.req_parts().headers;
        if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("<not text>");
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok());
            if !same_origin(origin, host) && !allowed.iter().any(|a| a == origin) {
                return refuse(Refused::Origin(origin.to_owned()), "origin");
            }
        }
    }
    let taken = adm.open.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(adm.open.clone());
    if taken >= adm.max {
        drop(slot);
        return refuse(Refused::Full(adm.max), "max_connections");
    }
    socket.extensions.insert(Arc::new(slot));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(same_origin("http://127.0.0.1:3000", Some("127.0.0.1:3000")));
        assert!(same_origin("https://Gate.example", Some("gate.example")));
        assert!(same_origin(
            "https://gate.example:443",
            Some("gate.example")
        ));
        assert!(!same_origin(
            "http://127.0.0.1:3001",
            Some("127.0.0.1:3000")
        ));
        assert!(!same_origin("http://evil.example", Some("gate.example")));
        assert!(!same_origin("http://gate.example", None));
        assert!(!same_origin("null", Some("gate.example")));
    }
}
