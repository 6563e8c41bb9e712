//! Fail fast while the database cannot be reached. sqlx retries a refused connection until the
//! pool's acquire timeout (`--db-acquire-timeout-ms`, 5 s by default), so with the database
//! down every query, and so every REST call, would block that long, and a gateway started with
//! `--no-migrate` would listen only after its first read had waited it out. The [`Gate`]
//! remembers that the last attempt could not connect. While it does, one probe (a trivial
//! read) runs in the background with the pool's own timeout, and each query waits at most
//! [`DOWN_PROBE`] for it to get through before failing as unreachable, which the HTTP layer
//! answers with 503 `database_unavailable`. The probe is never cut short, so a database that
//! is slow to connect still gets through. A fresh store has not reached its database yet and
//! starts closed, so its first query probes too.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

/// How long a query waits for the probe while the database is known to be down. Connecting
/// and a trivial read take a few milliseconds locally and a few round trips remotely, so a
/// working database answers well within it; a down one costs each request this much, which
/// keeps its 503 under a second.
pub(crate) const DOWN_PROBE: Duration = Duration::from_millis(500);

/// Whether the database was reachable at the last attempt.
#[derive(Debug)]
pub(crate) struct Gate {
    down: AtomicBool,
    /// A probe is running.
    probing: AtomicBool,
    /// Counts finished probes, to wake the queries waiting for one.
    probed: watch::Sender<u64>,
}

impl Default for Gate {
    /// Closed: nothing has reached the database yet.
    fn default() -> Self {
        Self {
            down: AtomicBool::new(true),
            probing: AtomicBool::new(false),
            probed: watch::Sender::new(0),
        }
    }
}

impl Gate {
    /// Lets a query through at once while the database is reachable. Otherwise starts `probe`
    /// (unless one is running; it yields its result and whether the pool was full) and waits
    /// up to [`DOWN_PROBE`] for a probe to get through; fails with `PoolTimedOut` if none did.
    pub(crate) async fn admit<F, P>(self: &Arc<Self>, probe: P) -> Result<(), sqlx::Error>
    where
        P: FnOnce() -> F,
        F: Future<Output = (Result<(), sqlx::Error>, bool)> + Send + 'static,
    {
        if !self.is_down() {
            return Ok(());
        }
        let mut probed = self.probed.subscribe();
        if !self.probing.swap(true, Ordering::AcqRel) {
            let gate = self.clone();
            let probe = probe();
            tokio::spawn(async move {
                let (result, pool_full) = probe.await;
                gate.record(&result, pool_full);
                gate.probing.store(false, Ordering::Release);
                gate.probed.send_modify(|n| *n += 1);
            });
        }
        // Timing out here only ends this query's wait; the probe goes on.
        let _ = tokio::time::timeout(DOWN_PROBE, probed.changed()).await;
        if self.is_down() {
            Err(sqlx::Error::PoolTimedOut)
        } else {
            Ok(())
        }
    }

    /// True while the last attempt could not connect.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records the outcome of a query (or probe); `pool_full`: whether the pool held its
    /// maximum of connections (open or being opened) when it finished.
    pub(crate) fn record<T>(&self, result: &Result<T, sqlx::Error>, pool_full: bool) {
        match result {
            Err(e) if could_not_connect(e, pool_full) => self.down.store(true, Ordering::Release),
            // Any answer from the server, even an error, means it is reachable.
            _ => self.down.store(false, Ordering::Release),
        }
    }
}

/// Whether `err` means no connection could be made: an I/O or TLS failure, or the pool timing
/// out while it had room for another connection (sqlx retries a refused connection until
/// then). A full pool that times out only has all its connections busy: not an outage.
fn could_not_connect(err: &sqlx::Error, pool_full: bool) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::PoolTimedOut => !pool_full,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_down_and_follows_the_outcomes() {
        let gate = Gate::default();
        assert!(gate.is_down());
        gate.record(&Ok::<(), _>(()), false);
        assert!(!gate.is_down());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        gate.record(&Err::<(), _>(sqlx::Error::Io(refused)), false);
        assert!(gate.is_down());
        // A server error is an answer: the database is reachable.
        gate.record(&Err::<(), _>(sqlx::Error::RowNotFound), false);
        assert!(!gate.is_down());
        // All connections busy is not an outage; a timeout with room for more is.
        gate.record(&Err::<(), _>(sqlx::Error::PoolTimedOut), true);
        assert!(!gate.is_down());
        gate.record(&Err::<(), _>(sqlx::Error::PoolTimedOut), false);
        assert!(gate.is_down());
    }
}
