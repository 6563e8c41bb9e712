//! The demo writer: simulates VnPy strategies so the gateway has live data with nothing else
//! installed. It writes exactly what a real strategy writes, through the seed columns only:
//! a 1-minute random-walk bar per instrument into `dbbardata`, one snapshot upsert per variant
//! per bar (its `instruments` a map keyed by `vt_symbol`, as in the design document), and
//! `signal` / `state_change` / `alert` events inserted idempotently by `event_key`.
//! Demo time runs faster than real time (one bar per `--demo-tick-ms`).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{
    config::DemoArgs,
    domain::{Interval, VtSymbol},
    store::{NewBar, NewEvent, NewSnapshot, Store, StoreError, StoredBar},
};

/// Simulated strategies: (variant, instance).
pub const VARIANTS: [(&str, &str); 3] = [
    ("trend_follow_v1", "inst-01"),
    ("mean_revert_v2", "inst-01"),
    ("breakout_v3", "inst-02"),
];
/// Simulated instruments and their starting prices.
pub const SYMBOLS: [(&str, f64); 3] = [
    ("rb2405.SHFE", 3620.0),
    ("IF2406.CFFEX", 3550.0),
    ("au2406.SHFE", 545.0),
];

#[derive(Debug, Clone, Default)]
struct Instrument {
    td_count: i32,
    dull_top: bool,
    dull_bottom: bool,
    div_top: bool,
    div_bottom: bool,
    last_signal: Option<(String, String, DateTime<Utc>)>,
    position: i32,
}

struct Sim {
    rng: StdRng,
    prices: Vec<f64>,
    /// [variant][symbol]
    states: Vec<Vec<Instrument>>,
    clock: DateTime<Utc>,
}

fn key_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs the demo until `shutdown` is cancelled or `--demo-ticks` ticks were written.
pub async fn run(
    store: Arc<dyn Store>,
    args: DemoArgs,
    bars_tz: Tz,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let first = parse_symbol(SYMBOLS[0].0);
    let last = store.last_bar_time(&first, Interval::Minute).await?;
    let now = Utc::now()
        .duration_trunc(ChronoDuration::minutes(1))
        .unwrap_or_else(|_| Utc::now());
    let (clock, history) = match last {
        Some(local) => (
            bars_tz
                .from_local_datetime(&local)
                .earliest()
                .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc)),
            0,
        ),
        None => (
            now - ChronoDuration::minutes(i64::from(args.demo_history)),
            args.demo_history,
        ),
    };
    let mut sim = Sim {
        rng: StdRng::from_os_rng(),
        prices: SYMBOLS.iter().map(|(_, p)| *p).collect(),
        states: vec![vec![Instrument::default(); SYMBOLS.len()]; VARIANTS.len()],
        clock,
    };
    if history > 0 {
        tracing::info!(bars = history, "demo: writing history");
        for i in 0..history {
            sim.tick(&*store, bars_tz).await?;
            if (i + 1) % 60 == 0 {
                tracing::info!(done = i + 1, of = history, "demo: history progress");
            }
        }
        tracing::info!(
            "demo: history written; now one bar every {} ms",
            args.demo_tick_ms
        );
    }
    let mut ticks = 0u64;
    let mut timer = tokio::time::interval(Duration::from_millis(args.demo_tick_ms.max(1)));
    loop {
        tokio::select! {
            _ = timer.tick() => {}
            _ = shutdown.cancelled() => {}
        }
        if shutdown.is_cancelled() {
            return Ok(());
        }
        if let Err(err) = sim.tick(&*store, bars_tz).await {
            tracing::warn!(error = %err, "demo tick failed; retrying next tick");
            continue;
        }
        ticks += 1;
        if args.demo_ticks > 0 && ticks >= args.demo_ticks {
            tracing::info!(ticks, "demo: done");
            return Ok(());
        }
    }
}

fn parse_symbol(s: &str) -> VtSymbol {
    // Only called with the constants above, which are valid (a unit test checks them).
    VtSymbol::parse(s).expect("demo symbols are valid vt_symbols")
}

impl Sim {
    async fn tick(&mut self, store: &dyn Store, tz: Tz) -> Result<(), StoreError> {
        self.clock += ChronoDuration::minutes(1);
        let bar_dt = self.clock;
        let mut bars = Vec::with_capacity(SYMBOLS.len());
        for (i, (sym, _)) in SYMBOLS.iter().enumerate() {
            let open = self.prices[i];
            let step = open * 0.0015;
            let close = (open + self.rng.random_range(-step..step)).max(1.0);
            let high = open.max(close) + self.rng.random_range(0.0..step / 2.0);
            let low = open.min(close) - self.rng.random_range(0.0..step / 2.0);
            let volume = f64::from(self.rng.random_range(50..500u32));
            self.prices[i] = close;
            let bar = StoredBar {
                datetime: bar_dt.with_timezone(&tz).naive_local(),
                open,
                high,
                low,
                close,
                volume,
                turnover: volume * close * 10.0,
                open_interest: 100_000.0 + f64::from(self.rng.random_range(0..5000u32)),
            };
            store
                .upsert_bar(&NewBar {
                    vt_symbol: parse_symbol(sym),
                    interval: Interval::Minute,
                    bar: bar.clone(),
                })
                .await?;
            bars.push(bar);
        }
        for (vi, (variant, instance)) in VARIANTS.iter().enumerate() {
            // A map keyed by vt_symbol, as the design document specifies.
            let mut instruments = serde_json::Map::new();
            for (si, (sym, _)) in SYMBOLS.iter().enumerate() {
                self.step_instrument(store, vi, si, variant, instance, sym, bars[si].close)
                    .await?;
                let st = &self.states[vi][si];
                instruments.insert(
                    (*sym).to_owned(),
                    json!({
                        "calc_bar_dt": key_time(&bar_dt),
                        "status": {
                            "dull_top": st.dull_top, "dull_bottom": st.dull_bottom,
                            "div_top": st.div_top, "div_bottom": st.div_bottom,
                        },
                        "td_count": st.td_count,
                        "last_signal": st.last_signal.as_ref().map(|(t, r, d)| json!({
                            "signal_type": t, "reason": r, "bar_dt": key_time(d),
                        })),
                        "last_price": bars[si].close,
                    }),
                );
            }
            let positions: Vec<_> = SYMBOLS
                .iter()
                .zip(&self.states[vi])
                .filter(|(_, s)| s.position != 0)
                .map(|((sym, _), s)| json!({"vt_symbol": sym, "volume": s.position}))
                .collect();
            let payload = json!({
                "instruments": instruments,
                "positions_summary": {"count": positions.len(), "positions": positions},
                "orders_summary": {"active": self.rng.random_range(0..3u32)},
            });
            store
                .upsert_snapshot(&NewSnapshot {
                    variant: (*variant).to_owned(),
                    instance_id: (*instance).to_owned(),
                    updated_at: Utc::now(),
                    bar_dt: Some(bar_dt),
                    bar_interval: Some("1m".to_owned()),
                    bar_window: Some(1),
                    payload: payload.to_string(),
                })
                .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn step_instrument(
        &mut self,
        store: &dyn Store,
        vi: usize,
        si: usize,
        variant: &str,
        instance: &str,
        sym: &str,
        price: f64,
    ) -> Result<(), StoreError> {
        let bar_dt = self.clock;
        let roll: f64 = self.rng.random();
        let st = &mut self.states[vi][si];
        st.td_count = if st.td_count >= 9 { 1 } else { st.td_count + 1 };
        let mut events = Vec::new();
        let base = |t: &str, key: String, payload: serde_json::Value| NewEvent {
            variant: variant.to_owned(),
            instance_id: instance.to_owned(),
            vt_symbol: sym.to_owned(),
            bar_dt: Some(bar_dt),
            event_type: t.to_owned(),
            event_key: key,
            created_at: Utc::now(),
            payload: payload.to_string(),
        };
        if roll < 0.12 {
            let (name, old) = match (roll * 100.0) as u32 % 4 {
                0 => ("dull_top", &mut st.dull_top),
                1 => ("dull_bottom", &mut st.dull_bottom),
                2 => ("div_top", &mut st.div_top),
                _ => ("div_bottom", &mut st.div_bottom),
            };
            let before = *old;
            *old = !before;
            let key = format!(
                "{variant}|{instance}|{sym}|{}|{name}|{before}->{}",
                key_time(&bar_dt),
                !before
            );
            events.push(base(
                "state_change",
                key,
                json!({"state_name": name, "old": before, "new": !before, "td_count": st.td_count}),
            ));
        }
        if st.td_count == 9 || roll > 0.95 {
            let signal_type = if st.div_bottom || roll > 0.975 {
                "buy"
            } else {
                "sell"
            };
            let reason = if st.td_count == 9 {
                "td9 exhaustion"
            } else {
                "breakout"
            };
            st.last_signal = Some((signal_type.to_owned(), reason.to_owned(), bar_dt));
            st.position += if signal_type == "buy" { 1 } else { -1 };
            let key = format!(
                "{variant}|{instance}|{sym}|{}|{signal_type}",
                key_time(&bar_dt)
            );
            events.push(base(
                "signal",
                key,
                json!({"signal_type": signal_type, "reason": reason, "price": price, "td_count": st.td_count}),
            ));
        }
        if roll > 0.12 && roll < 0.14 {
            let now = Utc::now();
            let key = format!(
                "{variant}|{instance}|{sym}|{}|price_jump",
                now.timestamp_micros()
            );
            events.push(base(
                "alert",
                key,
                json!({"alert_type": "price_jump", "message": format!("{sym} moved sharply"), "price": price}),
            ));
        }
        for e in &events {
            store.insert_event(e).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_symbols_are_valid() {
        for (s, _) in super::SYMBOLS {
            assert!(crate::domain::VtSymbol::parse(s).is_ok());
        }
    }
}
