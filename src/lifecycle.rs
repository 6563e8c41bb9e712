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
//! A *critical* task ([`Supervisor::spawn_critical`], and every [`Component`]) must only end
//! when it is cancelled. If it ends otherwise (it panicked, or returned), that is logged at
//! ERROR with its name, recorded in the tree's [`Fault`] (so `/readyz` answers 503), and after
//! [`FAULT_DRAIN`] the whole tree is cancelled: the application shuts down and returns an error,
//! and the process exits non-zero so that its supervisor (systemd, Kubernetes) restarts it.
//!
//! [`Application`]: crate::Application

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, OnceLock},
    time::Duration,
};

use futures_util::FutureExt;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Between a critical task's failure and the shutdown it causes, `/readyz` already answers 503
/// for this long, so health checks see the instance go unready before it stops accepting.
pub const FAULT_DRAIN: Duration = Duration::from_secs(2);

/// The first critical task of a supervisor tree that ended unexpectedly.
#[derive(Debug, Default)]
pub struct Fault {
    failed: OnceLock<&'static str>,
    /// Test builds only: names of critical tasks told to panic (see [`Supervisor::inject_panic`]).
    #[cfg(feature = "test-hooks")]
    injected: tokio::sync::watch::Sender<Vec<String>>,
}

impl Fault {
    /// The name of the critical task that ended unexpectedly, if one did.
    pub fn failed(&self) -> Option<&'static str> {
        self.failed.get().copied()
    }

    /// Records that `name` ended unexpectedly (`how`) and, after [`FAULT_DRAIN`], cancels `root`.
    fn report(&self, name: &'static str, how: &str, root: &CancellationToken) {
        tracing::error!(
            task = name,
            how,
            "critical task ended unexpectedly; shutting down so that the process is restarted"
        );
        metrics::counter!("signalgate_task_failures_total", "task" => name).increment(1);
        if self.failed.set(name).is_err() {
            return; // the first failure has already started the shutdown
        }
        let root = root.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = root.cancelled() => {}
                _ = tokio::time::sleep(FAULT_DRAIN) => root.cancel(),
            }
        });
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(s), _) => format!("panicked: {s}"),
        (_, Some(s)) => format!("panicked: {s}"),
        _ => "panicked".to_owned(),
    }
}

/// Spawns and tracks tasks under one cancellation token.
#[derive(Debug, Clone)]
pub struct Supervisor {
    token: CancellationToken,
    /// The token of the root supervisor: cancelled when a critical task fails.
    root: CancellationToken,
    /// Shared by the whole tree.
    fault: Arc<Fault>,
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
        let token = CancellationToken::new();
        Self {
            root: token.clone(),
            token,
            fault: Arc::default(),
            trackers: vec![TaskTracker::new()],
        }
    }

    /// The failure record of this supervisor's tree (read by `/readyz`).
    pub fn fault(&self) -> Arc<Fault> {
        self.fault.clone()
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
            root: self.root.clone(),
            fault: self.fault.clone(),
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

    /// Spawns a task that calls `work` every `period` (the first time at once) until cancelled:
    /// housekeeping such as metrics upkeep or a limiter's cleanup.
    pub fn spawn_every<W>(&self, name: &'static str, period: Duration, mut work: W)
    where
        W: FnMut() + Send + 'static,
    {
        self.spawn(name, move |token| async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = tick.tick() => work(),
                    _ = token.cancelled() => break,
                }
            }
        });
    }

    /// Spawns a critical task: like [`Supervisor::spawn`], but if it ends while `token` is not
    /// cancelled (it panicked or returned), the failure is logged at ERROR with `name`,
    /// recorded in the [`Fault`] and, after [`FAULT_DRAIN`], the whole tree is cancelled.
    pub fn spawn_critical<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        let inner = task(token.clone());
        #[cfg(feature = "test-hooks")]
        let inner = {
            let mut injected = self.fault.injected.subscribe();
            async move {
                tokio::select! {
                    _ = inner => {}
                    _ = injected.wait_for(|names| names.iter().any(|n| n == name)) => {
                        panic!("fault injected into {name}");
                    }
                }
            }
        };
        let (fault, root) = (self.fault.clone(), self.root.clone());
        self.spawn(name, move |_| async move {
            let outcome = AssertUnwindSafe(inner).catch_unwind().await;
            if token.is_cancelled() {
                return; // stopped on purpose
            }
            let how = match outcome {
                Ok(()) => "returned".to_owned(),
                Err(payload) => panic_message(&*payload),
            };
            fault.report(name, &how, &root);
        });
    }

    /// Test builds only: makes the running critical task(s) named `name` in this tree panic,
    /// and those started later as soon as they start.
    #[cfg(feature = "test-hooks")]
    pub fn inject_panic(&self, name: &str) {
        self.fault
            .injected
            .send_modify(|names| names.push(name.to_owned()));
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
    /// Starts `task` under a child of `parent`, as a critical task: it must only end when the
    /// component is stopped (or its parent cancelled).
    pub fn start<F, Fut>(parent: &Supervisor, name: &'static str, task: F) -> Self
    where
        F: FnOnce(Supervisor) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let supervisor = parent.child();
        let fut = task(supervisor.clone());
        supervisor.spawn_critical(name, |_| fut);
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

    #[tokio::test]
    async fn a_critical_task_that_returns_or_panics_is_a_fault() {
        for panics in [false, true] {
            let root = Supervisor::new();
            let child = root.child();
            child.spawn_critical("doomed", move |_| async move {
                assert!(!panics, "boom");
            });
            tokio::time::timeout(FAULT_DRAIN * 3, root.token().cancelled())
                .await
                .expect("the tree is cancelled after the drain");
            assert_eq!(root.fault().failed(), Some("doomed"));
            assert!(root.shutdown(Duration::from_secs(5)).await);
        }
    }

    #[tokio::test]
    async fn a_stopped_critical_task_is_no_fault() {
        let root = Supervisor::new();
        root.spawn_critical("waits", |token| async move { token.cancelled().await });
        let comp = Component::start(&root, "c", |sup| async move {
            sup.token().cancelled().await;
        });
        assert!(comp.stop(Duration::from_secs(5)).await);
        assert!(root.shutdown(Duration::from_secs(5)).await);
        assert_eq!(root.fault().failed(), None);
    }
}
