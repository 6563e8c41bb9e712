//! Supervised background tasks: one cancellation tree owned by the [`Application`].
//!
//! Every background task (bus consumer, poller, change listener, demo writer, and later the
//! Redis bus and the leader loop) is spawned through a [`Supervisor`]: it gets a child
//! [`CancellationToken`] and is tracked by a [`TaskTracker`], so shutdown can cancel *and wait*
//! for all of them. A component that is started and stopped on its own (the poller, on every
//! leadership change) gets its own child supervisor, returned as a [`Component`].
//!
//! Tasks must return promptly once their token is cancelled: they `select!` on
//! `token.cancelled()` at every await that can block.
//!
//! [`Application`]: crate::Application

use std::{future::Future, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Spawns and tracks tasks under one cancellation token.
#[derive(Debug, Clone)]
pub struct Supervisor {
    token: CancellationToken,
    /// This supervisor's tracker first, then every ancestor's: a task counts in all of them, so
    /// stopping any ancestor waits for it.
    trackers: Vec<TaskTracker>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// A new root supervisor.
    pub fn new() -> Self {
        Self {
            token: CancellationToken::new(),
            trackers: vec![TaskTracker::new()],
        }
    }

    /// The token cancelled when this supervisor (or an ancestor) stops.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// A supervisor whose token is a child of this one and whose tasks are also waited for by
    /// this one.
    pub fn child(&self) -> Self {
        let mut trackers = Vec::with_capacity(self.trackers.len() + 1);
        trackers.push(TaskTracker::new());
        trackers.extend(self.trackers.iter().cloned());
        Self {
            token: self.token.child_token(),
            trackers,
        }
    }

    /// Spawns `task(token)`. The task must end soon after `token` is cancelled; it is waited for
    /// by [`Supervisor::shutdown`] of this supervisor and of every ancestor.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let inner = task(self.token.clone());
        let mut fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            inner.await;
            tracing::debug!(task = name, "task finished");
        });
        for tracker in &self.trackers {
            fut = Box::pin(tracker.track_future(fut));
        }
        tokio::spawn(fut);
    }

    /// Cancels every task of this supervisor and its children, then waits up to `grace` for
    /// them to finish. Returns false if some did not finish in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.token.cancel();
        let Some(own) = self.trackers.first() else {
            return true;
        };
        own.close();
        let done = tokio::time::timeout(grace, own.wait()).await.is_ok();
        if !done {
            tracing::warn!(
                remaining = own.len(),
                ?grace,
                "background tasks did not stop in time"
            );
        }
        done
    }

    /// How many tasks (including children's) are still running.
    pub fn running(&self) -> usize {
        self.trackers.first().map_or(0, TaskTracker::len)
    }
}

/// A component that can be stopped on its own (e.g. the poller on losing leadership).
#[derive(Debug)]
pub struct Component {
    name: &'static str,
    supervisor: Supervisor,
}

impl Component {
    /// Starts `task` under a child of `parent`.
    pub fn start<F, Fut>(parent: &Supervisor, name: &'static str, task: F) -> Self
    where
        F: FnOnce(Supervisor) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let supervisor = parent.child();
        let fut = task(supervisor.clone());
        supervisor.spawn(name, |_| fut);
        Self { name, supervisor }
    }

    /// Cancels the component and waits up to `grace` for its tasks to end.
    pub async fn stop(self, grace: Duration) -> bool {
        tracing::debug!(component = self.name, "stopping");
        self.supervisor.shutdown(grace).await
    }

    /// Whether the component still has running tasks.
    pub fn is_running(&self) -> bool {
        self.supervisor.running() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    #[tokio::test]
    async fn shutdown_cancels_and_waits_for_children() {
        let root = Supervisor::new();
        let stopped = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let stopped = stopped.clone();
            root.spawn("t", |token| async move {
                token.cancelled().await;
                stopped.fetch_add(1, Ordering::SeqCst);
            });
        }
        let comp_stopped = stopped.clone();
        let comp = Component::start(&root, "c", |sup| async move {
            sup.token().cancelled().await;
            comp_stopped.fetch_add(10, Ordering::SeqCst);
        });
        assert!(comp.is_running());
        assert!(root.shutdown(Duration::from_secs(5)).await);
        assert_eq!(stopped.load(Ordering::SeqCst), 13);
        assert_eq!(root.running(), 0);
    }

    #[tokio::test]
    async fn a_component_stops_alone() {
        let root = Supervisor::new();
        let comp = Component::start(&root, "c", |sup| async move {
            sup.token().cancelled().await;
        });
        root.spawn("other", |token| async move { token.cancelled().await });
        assert!(comp.stop(Duration::from_secs(5)).await);
        assert!(!root.token().is_cancelled());
        assert_eq!(root.running(), 1, "the sibling task keeps running");
        assert!(root.shutdown(Duration::from_secs(5)).await);
    }
}
