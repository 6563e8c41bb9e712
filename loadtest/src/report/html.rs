//! The HTML report: a summary table, latency CDFs, throughput, latency spikes and CPU over
//! time, and each run's
//! scenario-specific results, in one file with inline SVG.

use std::fmt::Write;

use super::{
    RunReport,
    svg::{Axes, Series, chart, esc},
};

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

/// Renders one page for `runs`.
pub fn render(runs: &[RunReport]) -> String {
    let mut h = String::from(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>signalgate load test</title><style>
body{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.bad{color:#b00;font-weight:bold}
pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto}</style></head><body>
<h1>signalgate load test</h1>"#,
    );
    let _ = write!(
        h,
        "<p>{} run(s). Latency is from the writer's commit to the client's receipt.</p>",
        runs.len()
    );
    h += "<table><tr><th>run</th><th>server</th><th>db</th><th>clients</th><th>delivered</th><th>msg/s</th>\
          <th>p50 ms</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>lost</th><th>dup</th><th>resumed</th>\
          <th>CPU s / M msgs</th><th>RSS KB / conn</th></tr>";
    for r in runs {
        let l = r.latency.as_ref();
        let bad = |n: u64| {
            if n > 0 {
                format!(r#"<span class="bad">{n}</span>"#)
            } else {
                "0".into()
            }
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.label),
            esc(&r.server),
            esc(&r.backend),
            r.connect.as_ref().map_or(0, |c| c.clients),
            r.delivered,
            r.expected,
            r.delivered_per_s,
            opt(l.map(|l| l.p50_ms), 1),
            opt(l.map(|l| l.p90_ms), 1),
            opt(l.map(|l| l.p99_ms), 1),
            opt(l.map(|l| l.p999_ms), 1),
            opt(l.map(|l| l.max_ms), 1),
            bad(r.lost),
            bad(r.duplicates),
            r.reconnects,
            opt(r.cpu_s_per_million, 2),
            opt(r.rss_per_connection_kb, 1),
        );
    }
    h += "</table>";
    let cdf: Vec<Series<'_>> = runs
        .iter()
        .filter_map(|r| {
            let l = r.latency.as_ref()?;
            Some(Series {
                name: &r.label,
                points: l.cdf.iter().map(|&(q, ms)| (ms, q)).collect(),
            })
        })
        .collect();
    if !cdf.is_empty() {
        h += "<h2>Latency CDF</h2>";
        h += &chart(
            &cdf,
            &Axes {
                x_label: "commit → client latency (ms, log)",
                y_label: "percentile",
                x_log: true,
            },
        );
    }
    let timeline = |f: fn(&super::Tick) -> f64| -> Vec<Series<'_>> {
        runs.iter()
            .filter(|r| !r.timeline.is_empty())
            .map(|r| Series {
                name: &r.label,
                points: r.timeline.iter().map(|t| (t.t, f(t))).collect(),
            })
            .collect()
    };
    let delivered = timeline(|t| t.delivered_per_s);
    if !delivered.is_empty() {
        h += "<h2>Delivered messages per second</h2>";
        h += &chart(
            &delivered,
            &Axes {
                x_label: "seconds",
                y_label: "msg/s",
                x_log: false,
            },
        );
        h += "<h2>Largest latency per 500 ms (ms)</h2>";
        h += &chart(
            &timeline(|t| t.max_latency_ms),
            &Axes {
                x_label: "seconds",
                y_label: "max ms",
                x_log: false,
            },
        );
        h += "<h2>Server CPU (% of one core)</h2>";
        h += &chart(
            &timeline(|t| t.cpu_pct),
            &Axes {
                x_label: "seconds",
                y_label: "CPU %",
                x_log: false,
            },
        );
        h += "<h2>Server RSS (MB)</h2>";
        h += &chart(
            &timeline(|t| t.rss_kb as f64 / 1024.0),
            &Axes {
                x_label: "seconds",
                y_label: "MB",
                x_log: false,
            },
        );
    }
    for r in runs {
        let _ = write!(h, "<h2>{}</h2>", esc(&r.label));
        if !r.failures.is_empty() {
            let _ = write!(
                h,
                r#"<p class="bad">FAILED: {}</p>"#,
                esc(&r.failures.join("; "))
            );
        }
        let extra = serde_json::to_string_pretty(&r.extra).unwrap_or_default();
        let params = serde_json::to_string(&r.params).unwrap_or_default();
        let _ = write!(
            h,
            "<pre>{}</pre><details><summary>parameters</summary><pre>{}</pre></details>",
            esc(&extra),
            esc(&params)
        );
    }
    h + "</body></html>\n"
}
