//! A small line-chart renderer producing inline SVG (linear or log x axis), so the HTML report
//! needs no script and no network to view.

use std::fmt::Write;

/// One line of a chart.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Points `(x, y)`.
    pub points: Vec<(f64, f64)>,
}

/// Axis options.
pub struct Axes<'a> {
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Logarithmic x axis (values ≤ 0 are clamped to the smallest positive x).
    pub x_log: bool,
}

/// Line colours (colour-blind friendly palette).
const COLOURS: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];
// Canvas size and margins (left, right: room for the legend, top, bottom), pixels.
const W: f64 = 760.0;
const H: f64 = 360.0;
const L: f64 = 70.0;
const R: f64 = 170.0;
const T: f64 = 20.0;
const B: f64 = 45.0;

fn nice_step(span: f64) -> f64 {
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v.abs() >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Renders the chart as an `<svg>` element.
pub fn chart(series: &[Series<'_>], axes: &Axes<'_>) -> String {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0f64);
    for &(x, y) in pts {
        if !axes.x_log || x > 0.0 {
            x0 = x0.min(x);
        }
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return "<p>(no data)</p>".into();
    }
    let fx = |x: f64| -> f64 { if axes.x_log { x.max(x0).log10() } else { x } };
    let (mut a, mut b) = (fx(x0), fx(x1));
    if axes.x_log {
        (a, b) = (a.floor(), b.ceil());
    }
    if b <= a {
        b = a + 1.0;
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.05 };
    let px = |x: f64| L + (fx(x) - a) / (b - a) * (W - L - R);
    let py = |y: f64| H - B - y / y1 * (H - T - B);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        W - L - R,
        H - T - B
    );
    // x ticks
    if axes.x_log {
        let mut e = a;
        while e <= b + 1e-9 {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powf(e);
                let lg = v.log10();
                if lg < a - 1e-9 || lg > b + 1e-9 {
                    continue;
                }
                let x = L + (lg - a) / (b - a) * (W - L - R);
                let _ = write!(
                    s,
                    r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                    H - B,
                    H - B + 14.0,
                    fmt_num(v)
                );
            }
            e += 1.0;
        }
    } else {
        let step = nice_step(b - a);
        let mut v = (a / step).ceil() * step;
        while v <= b + 1e-9 {
            let x = px(v);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                H - B,
                H - B + 14.0,
                fmt_num(v)
            );
            v += step;
        }
    }
    // y ticks
    let step = nice_step(y1);
    let mut v = 0.0;
    while v <= y1 + 1e-9 {
        let y = py(v);
        let _ = write!(
            s,
            r##"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - R,
            L - 5.0,
            y + 4.0,
            fmt_num(v)
        );
        v += step;
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        H - 8.0,
        esc(axes.x_label)
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
        (T + H - B) / 2.0,
        (T + H - B) / 2.0,
        esc(axes.y_label)
    );
    for (i, ser) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = ser
            .points
            .iter()
            .filter(|(x, _)| !axes.x_log || *x > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.8" points="{}"/>"#,
            path.join(" ")
        );
        let ly = T + 14.0 + i as f64 * 16.0;
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            W - R + 8.0,
            W - R + 28.0,
            W - R + 32.0,
            ly + 4.0,
            esc(ser.name)
        );
    }
    s + "</svg>"
}

/// Escapes text for HTML/SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lines_and_legend() {
        let s = [Series {
            name: "a<b",
            points: vec![(1.0, 10.0), (100.0, 90.0)],
        }];
        let svg = chart(
            &s,
            &Axes {
                x_label: "ms",
                y_label: "%",
                x_log: true,
            },
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("polyline") && svg.contains("a&lt;b"));
        assert_eq!(
            chart(
                &[],
                &Axes {
                    x_label: "",
                    y_label: "",
                    x_log: false
                }
            ),
            "<p>(no data)</p>"
        );
    }
}
