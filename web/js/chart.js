/**
 * chart.js: the candlestick chart of one (variant, vt_symbol, interval) with event markers.
 *
 * Bars come from `/api/bars` (already UTC, whatever `--bars-timezone` is) and events from
 * `/api/events?time_field=bar_dt` (UTC), so a marker's time is its event's `bar_dt` in seconds
 * and sits exactly on the candle of that time; with buckets (`max_points`) or a coarser
 * interval it goes on the candle whose time range holds it. Scrolling back loads older bars
 * page by page. A wider span is shown in equal-time candles: the shortest interval from the
 * selected one up (5m, 15m, ... 1d, built by the gateway from 1-minute bars) that gives at most
 * BUCKETS candles, with `max_points` as a cap; a gateway that cannot build it gets the old
 * equal-count buckets of the selected interval. The last candle moves with the bars the gateway
 * pushes (`applyBar`, see bars.js). A volume histogram sits under the candles on its own scale.
 * Axis and crosshair times follow the page's display zone (util.js).
 */
import {
  createChart, CandlestickSeries, HistogramSeries, createSeriesMarkers, CrosshairMode,
} from "../vendor/lightweight-charts.mjs";
import * as api from "./api.js";
import { toSeconds, localTime, zoneParts } from "./util.js";

/** Bars per page: about three laptop screens of candles. */
const PAGE = 500;
/** Candles asked for when a span is shown (`max_points`): one per ~2 px of a laptop chart. */
const BUCKETS = 600;
/** Older pages are loaded when fewer than this many candles are left of the visible range. */
const PRELOAD_CANDLES = 20;
/** Event pages read for one range of markers (5000 events each). */
const MAX_EVENT_PAGES = 4;
const SPAN_SECONDS = { "1d": 86400, "1w": 7 * 86400, "30d": 30 * 86400 };
export const INTERVAL_SECONDS = {
  "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400, d: 86400, w: 7 * 86400,
};
/** Intervals a span may be shown in, shortest first. */
const SPAN_INTERVALS = ["1m", "5m", "15m", "30m", "1h", "4h", "d", "w"];

/** The interval a `span` is drawn in: the shortest from `interval` up with at most BUCKETS candles. */
export function spanInterval(interval, span) {
  const secs = SPAN_SECONDS[span];
  const from = INTERVAL_SECONDS[interval];
  if (!secs || !from) return interval;
  return SPAN_INTERVALS.find((i) => INTERVAL_SECONDS[i] >= from && secs / INTERVAL_SECONDS[i] <= BUCKETS) ?? interval;
}
/** Event types drawn as markers; state changes are too frequent and stay in the feed. */
const MARKER_TYPES = new Set(["signal", "alert", "order"]);

const iso = (seconds) => new Date(seconds * 1000).toISOString();

/** Index of the last element of ascending `times` that is <= t, or -1. */
function floorIndex(times, t) {
  let lo = 0, hi = times.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return found;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function themeOptions() {
  const fg = cssVar("--fg"), grid = cssVar("--grid");
  return {
    layout: { background: { color: cssVar("--panel") }, textColor: fg },
    grid: { vertLines: { color: grid }, horzLines: { color: grid } },
    rightPriceScale: { borderColor: grid },
    timeScale: { borderColor: grid },
  };
}

function seriesColors() {
  const up = cssVar("--up"), down = cssVar("--down");
  return { upColor: up, downColor: down, borderUpColor: up, borderDownColor: down, wickUpColor: up, wickDownColor: down };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Axis labels in the display zone (the data stays UTC). */
function tickMark(t, type) {
  const d = zoneParts(new Date(t * 1000));
  const p = (n) => String(n).padStart(2, "0");
  if (type === 0) return String(d.year);
  if (type === 1) return MONTHS[d.month - 1];
  if (type === 2) return `${d.month}/${d.day}`;
  return `${p(d.hour)}:${p(d.minute)}`;
}

/** A volume bar, coloured by the candle's direction (faint, so candles stay in front). */
function volumeOf(c, colors) {
  return { time: c.time, value: c.volume ?? 0, color: `${c.close >= c.open ? colors.upColor : colors.downColor}66` };
}

const ohlc = (c) => ({ time: c.time, open: c.open, high: c.high, low: c.low, close: c.close });

function markerOf(ev, time) {
  const p = ev.payload ?? {};
  const id = String(ev.seq);
  if (ev.event_type === "signal") {
    const buy = /buy|long/i.test(String(p.signal_type ?? ""));
    return buy
      ? { id, time, position: "belowBar", shape: "arrowUp", color: cssVar("--up"), text: String(p.signal_type ?? "buy") }
      : { id, time, position: "aboveBar", shape: "arrowDown", color: cssVar("--down"), text: String(p.signal_type ?? "sell") };
  }
  if (ev.event_type === "alert") return { id, time, position: "aboveBar", shape: "circle", color: cssVar("--warn"), text: "!" };
  return { id, time, position: "belowBar", shape: "square", color: cssVar("--accent"), text: "order" };
}

const toCandle = (b) => ({
  time: toSeconds(b.datetime), open: b.open, high: b.high, low: b.low, close: b.close, volume: Number(b.volume) || 0,
});

export class CandleChart {
  /** @param {HTMLElement} container @param {HTMLElement} note a line under the chart */
  constructor(container, note) {
    Object.assign(this, { container, note });
    const theme = themeOptions();
    this.chart = createChart(container, {
      ...theme,
      autoSize: true,
      crosshair: { mode: CrosshairMode.Normal },
      localization: { timeFormatter: (t) => localTime(t) },
      timeScale: { ...theme.timeScale, timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark },
    });
    this.series = this.chart.addSeries(CandlestickSeries, seriesColors());
    this.series.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false,
    });
    this.chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.markers = createSeriesMarkers(this.series, []);
    this.candles = []; // ascending, unique times
    this.events = new Map(); // seq -> event shown as a marker
    this.key = null; // {variant, vtSymbol, interval, span}
    this.gen = 0; // bumped by each load; answers of older loads are dropped
    this.olderDone = true; // no older bars to load (or a span is shown)
    this.loadingOlder = false;
    this.loading = false; // a load is reading bars
    this.tail = null; // running tail refresh (a promise)
    this.tailAgain = false;
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((r) => this._onRange(r));
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.restyle());
  }

  /** Applies the theme, the up/down colours and the display zone again. */
  restyle() {
    this.chart.applyOptions({ ...themeOptions(), localization: { timeFormatter: (t) => localTime(t) } });
    this.series.applyOptions(seriesColors());
    this._setData();
    this._drawMarkers();
    this._describe();
  }

  /** Draws all candles and their volumes. */
  _setData() {
    const colors = seriesColors();
    this.series.setData(this.candles.map(ohlc));
    this.volume.setData(this.candles.map((c) => volumeOf(c, colors)));
  }

  /** Shows `key` = {variant, vtSymbol, interval, span}; resolves when bars and markers are drawn. */
  async load(key) {
    const gen = ++this.gen;
    this.key = key;
    this.events.clear();
    this.candles = [];
    this._setData();
    this.markers.setMarkers([]);
    this.loading = true; // pushed bars wait for the REST read
    const span = SPAN_SECONDS[key.span];
    this.barInterval = spanInterval(key.interval, key.span);
    this._say(`Loading ${key.vtSymbol}…`);
    const params = { vt_symbol: key.vtSymbol, interval: this.barInterval, limit: PAGE };
    if (span) Object.assign(params, { start: iso(Date.now() / 1000 - span), limit: 100000, max_points: BUCKETS });
    let bars;
    try {
      // An older gateway refuses an interval it does not store (400) or has no such bars.
      bars = await api.bars(params).catch((err) => {
        if (err.status === 400 && this.barInterval !== key.interval) return [];
        throw err;
      });
      if (bars.length === 0 && this.barInterval !== key.interval && gen === this.gen) {
        // A gateway that does not build this interval: equal-count buckets of the selected one.
        this.barInterval = key.interval;
        bars = await api.bars({ ...params, interval: key.interval });
      }
    } catch (err) {
      if (gen === this.gen) {
        this.loading = false;
        this._say(`Bars could not be loaded: ${err.message}`);
      }
      return;
    }
    if (gen !== this.gen) return;
    this.loading = false;
    this.candles = bars.map(toCandle).filter((c) => c.time != null);
    this.olderDone = Boolean(span) || this.candles.length < PAGE;
    this._setData();
    if (this.candles.length === 0) {
      this._say(`No ${key.interval} bars for ${key.vtSymbol}.`);
      return;
    }
    const n = this.candles.length;
    if (span) this.chart.timeScale().fitContent();
    else this.chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, n - 120), to: n + 2 });
    await this._loadEvents(gen, this.candles[0].time, null);
    this._describe();
  }

  /** Adds a live event; it becomes a marker if it belongs to this chart. */
  addEvent(ev) {
    const k = this.key;
    if (!k || ev.variant !== k.variant || ev.vt_symbol !== k.vtSymbol || !MARKER_TYPES.has(ev.event_type)) return;
    if (toSeconds(ev.bar_dt) == null || this.events.has(ev.seq)) return;
    this.events.set(ev.seq, ev);
    this._drawMarkers();
    this._describe();
  }

  /**
   * A bar pushed by the gateway (or read by the tail refresh): updates or appends the last
   * candle. A bar beyond the next one means bars were missed (only the latest is pushed): they
   * are re-read over REST.
   */
  applyBar(bar, { fromTail = false } = {}) {
    const c = toCandle(bar);
    const last = this.candles.at(-1);
    if (c.time == null || !this.key || this.loading || SPAN_SECONDS[this.key.span] || (last && c.time < last.time)) return;
    const step = INTERVAL_SECONDS[this.key.interval] ?? 60;
    if (!fromTail && last && c.time > last.time + step) {
      this.refreshTail();
      return;
    }
    if (last && c.time === last.time) this.candles[this.candles.length - 1] = c;
    else this.candles.push(c);
    this.series.update(ohlc(c));
    this.volume.update(volumeOf(c, seriesColors()));
    this._drawMarkers();
  }

  /**
   * Re-reads the bars from the last candle on: after missed pushes, or (with a gateway without
   * live bars) when a snapshot of the shown variant says a newer bar was computed. Coalesced:
   * one request at a time, one more if asked meanwhile.
   */
  refreshTail() {
    if (!this.key || SPAN_SECONDS[this.key.span] || this.candles.length === 0) return;
    if (this.tail) { this.tailAgain = true; return; }
    const gen = this.gen;
    this.tail = (async () => {
      do {
        this.tailAgain = false;
        const last = this.candles.at(-1);
        const k = this.key;
        const bars = await api.bars({ vt_symbol: k.vtSymbol, interval: k.interval, start: iso(last.time), limit: PAGE })
          .catch(() => []);
        if (gen !== this.gen) return;
        for (const b of bars) this.applyBar(b, { fromTail: true });
      } while (this.tailAgain && gen === this.gen);
      this._describe();
    })().finally(() => { this.tail = null; });
  }

  /** Scrolls to the candle holding `iso` time (loading older pages if needed). */
  async focus(isoTime) {
    const t = toSeconds(isoTime);
    if (t == null || this.candles.length === 0) return;
    const gen = this.gen;
    for (let i = 0; i < 20 && !this.olderDone && t < this.candles[0].time && gen === this.gen; i++) {
      await this._loadOlder();
    }
    if (gen !== this.gen) return;
    const i = floorIndex(this.candles.map((c) => c.time), t);
    if (i < 0) return;
    this.chart.timeScale().setVisibleLogicalRange({ from: i - 60, to: i + 60 });
  }

  /** State for tests and debugging: candles and markers as drawn, the visible time range. */
  inspect() {
    const visible = this.chart.timeScale().getVisibleRange();
    return {
      key: this.key, interval: this.barInterval, candles: this.candles.slice(), markers: this.markers.markers().slice(), visible,
      volumes: this.volume.data().length, upColor: this.series.options().upColor,
    };
  }

  _onRange(range) {
    if (!range || this.olderDone || this.loadingOlder || range.from > PRELOAD_CANDLES) return;
    this._loadOlder();
  }

  async _loadOlder() {
    if (this.loadingOlder || this.olderDone || this.candles.length === 0) return;
    this.loadingOlder = true;
    const gen = this.gen, k = this.key, first = this.candles[0].time;
    try {
      const bars = await api.bars({ vt_symbol: k.vtSymbol, interval: k.interval, end: iso(first - 1), limit: PAGE });
      if (gen !== this.gen) return;
      const older = bars.map(toCandle).filter((c) => c.time != null && c.time < first);
      if (older.length < PAGE) this.olderDone = true;
      if (older.length === 0) return;
      const ts = this.chart.timeScale();
      const range = ts.getVisibleLogicalRange();
      this.candles = older.concat(this.candles);
      this._setData();
      if (range) ts.setVisibleLogicalRange({ from: range.from + older.length, to: range.to + older.length });
      await this._loadEvents(gen, older[0].time, first - 1);
      this._describe();
    } catch (err) {
      this._say(`Older bars could not be loaded: ${err.message}`);
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Reads the marker events with bar_dt in [from, to] (to = null: up to now). */
  async _loadEvents(gen, from, to) {
    const k = this.key;
    let after = 0;
    for (let page = 0; page < MAX_EVENT_PAGES; page++) {
      let body;
      try {
        body = await api.events(k.variant, {
          vt_symbol: k.vtSymbol, time_field: "bar_dt", start: iso(from), end: to == null ? null : iso(to),
          after_seq: after, limit: 5000,
        });
      } catch (err) {
        this._say(`Markers could not be loaded: ${err.message}`);
        return;
      }
      if (gen !== this.gen) return;
      for (const ev of body.events) if (MARKER_TYPES.has(ev.event_type)) this.events.set(ev.seq, ev);
      if (body.events.length < 5000) break;
      after = body.next_after_seq;
    }
    this._drawMarkers();
  }

  /** Places every known event on the candle whose time range holds its bar_dt. */
  _drawMarkers() {
    const times = this.candles.map((c) => c.time);
    const span = SPAN_SECONDS[this.key?.span];
    const secs = INTERVAL_SECONDS[this.barInterval] ?? 60;
    // Equal-count buckets (a gateway that could not build the span's interval): as wide as they are.
    const step = span && span / secs > BUCKETS ? Infinity : secs;
    const out = [];
    for (const ev of this.events.values()) {
      const t = toSeconds(ev.bar_dt);
      const i = t == null ? -1 : floorIndex(times, t);
      if (i < 0) continue;
      const end = Math.min(times[i] + step, times[i + 1] ?? Infinity);
      if (t >= end) continue; // its candle is not loaded (yet)
      out.push(markerOf(ev, times[i]));
    }
    out.sort((a, b) => a.time - b.time || Number(a.id) - Number(b.id));
    this.markers.setMarkers(out);
  }

  _describe() {
    const k = this.key;
    if (!k) return;
    const n = this.candles.length, m = this.markers.markers().length;
    const what = SPAN_SECONDS[k.span] ? `last ${k.span} in ${n} ${this.barInterval} candles` : `${n} ${k.interval} candles`;
    const last = this.candles.at(-1);
    this._say(`${k.vtSymbol} · ${what} · ${m} markers${last ? ` · last bar ${localTime(last.time)}` : ""}`);
  }

  _say(text) {
    this.note.textContent = text;
  }
}
