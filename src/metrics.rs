//! Prometheus metrics (`metrics` facade, `metrics-exporter-prometheus` recorder): the process-wide
//! recorder handle and the bounded `variant` label. A leaf: it imports nothing of this crate, so
//! every layer may record; `/metrics` itself and the REST request middleware are served by
//! [`crate::http`]'s `metrics` module (on the main listener or, with `--metrics-listen`, on a
//! separate one).
//!
//! Every name starts with `signalgate_`. Labels are bounded: `route` is the matched route
//! pattern (`/api/snapshot/{variant}`, or `unmatched`), `status` an HTTP status, and `variant`
//! only a variant the poller saw in the database, at most [`MAX_VARIANT_LABELS`] of them; any
//! other variant counts under `_other`. No per-socket labels.
//!
//! Gauges that describe current state (connected sockets, subscriptions per variant) are
//! computed when scraped; counters and histograms are recorded where things happen (poller,
//! fan-out, REST middleware).

use std::{
    collections::HashSet,
    sync::{LazyLock, Mutex, OnceLock},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Most distinct `variant` label values (a few hundred strategies is already a lot; each value
/// costs one series per per-variant metric).
pub const MAX_VARIANT_LABELS: usize = 500;
/// The `variant` label of variants beyond the cap or unknown to the database.
pub const OTHER_VARIANT: &str = "_other";
/// Latency buckets (seconds): 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static KNOWN_VARIANTS: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// The process-wide Prometheus recorder, installed on first use. `None` if another recorder
/// was installed first (then nothing is recorded here).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(err) => {
                    tracing::warn!(error = %err, "metrics disabled: cannot install the recorder");
                    None
                }
            }
        })
        .clone()
}

/// Records that the database has `variant` (the poller calls this), so it may be a label.
pub fn learn_variant(variant: &str) {
    let mut known = KNOWN_VARIANTS.lock().unwrap_or_else(|e| e.into_inner());
    if known.len() < MAX_VARIANT_LABELS && !known.contains(variant) {
        known.insert(variant.to_owned());
    }
}

/// The `variant` label for `variant`: itself if known from the database (within the cap),
/// otherwise [`OTHER_VARIANT`].
pub fn variant_label(variant: &str) -> String {
    let known = KNOWN_VARIANTS.lock().unwrap_or_else(|e| e.into_inner());
    if known.contains(variant) {
        variant.to_owned()
    } else {
        OTHER_VARIANT.to_owned()
    }
}

/// Every variant known from the database (within the cap): each has a `variant` label.
pub fn known_variants() -> Vec<String> {
    let known = KNOWN_VARIANTS.lock().unwrap_or_else(|e| e.into_inner());
    known.iter().cloned().collect()
}
