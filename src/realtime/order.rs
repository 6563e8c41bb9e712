//! Per-socket request order.
//!
//! socketioxide spawns one task per incoming message, so two requests of one socket can run in
//! either order (`subscribe` then `unsubscribe` was sometimes applied in reverse). The [`Turn`]
//! extractor takes a ticket *synchronously*, while socketioxide dispatches the message in
//! arrival order; the handler then waits for its turn, so requests of one socket take effect in
//! the order they were sent. Different sockets never wait for each other.

use std::{
    collections::BTreeSet,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use socketioxide::{
    adapter::Adapter,
    handler::{FromMessageParts, Value},
    socket::Socket,
};
use tokio::sync::watch;

use super::hub::lock;

/// The ticket counter of one socket (kept in its extensions).
#[derive(Debug)]
pub struct Sequencer {
    state: Mutex<State>,
    serving: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    next_ticket: u64,
    serving: u64,
    /// Tickets whose handler was never run (a later extractor failed): skipped.
    abandoned: BTreeSet<u64>,
}

impl Default for Sequencer {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            serving: watch::Sender::new(0),
        }
    }
}

impl Sequencer {
    fn take(&self) -> u64 {
        let mut st = lock(&self.state);
        st.next_ticket += 1;
        st.next_ticket - 1
    }

    /// Marks `ticket` done (or abandoned) and lets the next one run.
    fn release(&self, ticket: u64) {
        let mut st = lock(&self.state);
        if st.serving != ticket {
            st.abandoned.insert(ticket);
            return;
        }
        let mut next = ticket + 1;
        while st.abandoned.remove(&next) {
            next += 1;
        }
        st.serving = next;
        self.serving.send_replace(next);
    }
}

/// A place in the socket's request queue, taken in arrival order.
#[derive(Debug)]
pub struct Turn {
    seq: Arc<Sequencer>,
    ticket: u64,
    released: bool,
}

/// Held while a request runs; the next request of the socket starts when it is dropped (the
/// inner [`Turn`] releases the ticket).
#[derive(Debug)]
pub struct TurnGuard(#[allow(dead_code)] Turn);

impl Turn {
    /// Waits until every earlier request of this socket has finished.
    pub async fn wait(self) -> TurnGuard {
        let mut rx = self.seq.serving.subscribe();
        let ticket = self.ticket;
        // The sender lives in `self.seq`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|serving| *serving == ticket).await;
        TurnGuard(self)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.released {
            self.released = true;
            self.seq.release(self.ticket);
        }
    }
}

impl<A: Adapter> FromMessageParts<A> for Turn {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let seq = match s.extensions.get::<Arc<Sequencer>>() {
            Some(seq) => seq,
            None => {
                let seq = Arc::new(Sequencer::default());
                s.extensions.insert(seq.clone());
                seq
            }
        };
        let ticket = seq.take();
        Ok(Self {
            seq,
            ticket,
            released: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(seq: &Arc<Sequencer>) -> Turn {
        Turn {
            seq: seq.clone(),
            ticket: seq.take(),
            released: false,
        }
    }

    #[tokio::test]
    async fn turns_run_in_ticket_order_and_skip_abandoned_ones() {
        let seq = Arc::new(Sequencer::default());
        let (t0, t1, t2, t3) = (turn(&seq), turn(&seq), turn(&seq), turn(&seq));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Spawned in reverse; each must still run after the earlier ones.
        for (n, t) in [(3, t3), (1, t1)] {
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let _g = t.wait().await;
                lock(&order).push(n);
            }));
        }
        drop(t2); // abandoned: never run, must not block 3
        for _ in 0..10 {
            tokio::task::yield_now().await; // let the spawned tasks run until they block
        }
        assert!(lock(&order).is_empty(), "nothing runs before ticket 0");
        drop(t0.wait().await);
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(*lock(&order), vec![1, 3]);
    }
}
