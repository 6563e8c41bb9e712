//! What the `group` scenario adds to a fan-out run: killing the leader mid-run
//! (`--kill-leader-at S`), the latency spike around it, and the CPU of Redis and nginx.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    cluster::Cluster,
    report::Tick,
    server::{self, ProcSample},
};

/// CPU seconds and RSS summed over `pids` (processes that are gone count nothing).
pub fn sample_sum(pids: &[u32]) -> ProcSample {
    pids.iter()
        .filter_map(|p| server::sample(*p))
        .fold(ProcSample::default(), |a, s| ProcSample {
            cpu_s: a.cpu_s + s.cpu_s,
            rss_kb: a.rss_kb + s.rss_kb,
        })
}

/// Waits `at` seconds, kills the leader (node: the poller) and waits for the next one.
pub async fn kill_leader_at(cluster: &mut Cluster, at: f64) -> Value {
    tokio::time::sleep(Duration::from_secs_f64(at.max(0.0))).await;
    match cluster.kill_leader().await {
        Ok(v) => v,
        Err(e) => json!({"kill_error": format!("{e:#}")}),
    }
}

/// The timeline's picture of a kill at `killed_at_us` (the sampler started at `started_us`):
/// the largest latency before it, after it, and how long after it the per-interval maximum
/// stayed above twice the largest one before.
pub fn spike(timeline: &[Tick], started_us: u64, killed_at_us: u64) -> Value {
    let kill_t = killed_at_us.saturating_sub(started_us) as f64 / 1e6;
    let max =
        |it: &mut dyn Iterator<Item = &Tick>| it.map(|t| t.max_latency_ms).fold(0.0, f64::max);
    let before = max(&mut timeline.iter().filter(|t| t.t <= kill_t));
    let after = max(&mut timeline.iter().filter(|t| t.t > kill_t));
    let settled = timeline
        .iter()
        .filter(|t| t.t > kill_t && t.max_latency_ms > 2.0 * before)
        .map(|t| t.t - kill_t)
        .fold(0.0, f64::max);
    json!({"kill_t_s": kill_t, "max_latency_before_ms": before,
        "max_latency_after_ms": after, "above_twice_before_for_s": settled})
}

/// Redis's and nginx's CPU seconds between two [`Cluster::helpers`] readings.
pub fn helper_cpu(a: (ProcSample, ProcSample), b: (ProcSample, ProcSample)) -> Value {
    let round = |v: f64| (v * 100.0).round() / 100.0;
    json!({"redis_cpu_s": round(b.0.cpu_s - a.0.cpu_s), "nginx_cpu_s": round(b.1.cpu_s - a.1.cpu_s),
        "redis_rss_kb": b.0.rss_kb, "nginx_rss_kb": b.1.rss_kb})
}

/// Open sockets of each process (clients plus a few database and Redis connections): shows
/// how nginx spread the clients.
pub fn sockets(pids: &[u32]) -> Vec<usize> {
    pids.iter()
        .map(|p| {
            std::fs::read_dir(format!("/proc/{p}/fd")).map_or(0, |d| {
                d.flatten()
                    .filter(|e| {
                        std::fs::read_link(e.path())
                            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                    })
                    .count()
            })
        })
        .collect()
}
