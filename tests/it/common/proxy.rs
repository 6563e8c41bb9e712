//! A TCP proxy between the gateway and the database server, so a test can take the database
//! away (close every connection and refuse new ones) without touching the shared server.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// A running proxy.
pub struct Proxy {
    pub addr: String,
    up: Arc<AtomicBool>,
    kill: watch::Sender<u64>,
}

impl Proxy {
    /// Listens on an ephemeral port and forwards to `target` (host:port).
    pub async fn start(target: String) -> Self {
        Self::start_at("127.0.0.1:0", target).await
    }

    /// Listens on `listen` (host:port, e.g. a port a gateway was already pointed at while
    /// nothing listened there) and forwards to `target`.
    pub async fn start_at(listen: &str, target: String) -> Self {
        let listener = TcpListener::bind(listen).await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let up = Arc::new(AtomicBool::new(true));
        let (kill, _) = watch::channel(0u64);
        let (up2, kill2) = (up.clone(), kill.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound); // "database down": refuse by closing at once
                    continue;
                }
                let target = target.clone();
                let mut killed = kill2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = killed.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, kill }
    }

    /// Closes every open connection and refuses new ones.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.kill.send_modify(|n| *n += 1);
    }

    /// Accepts connections again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
