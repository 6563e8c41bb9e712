/**
 * table.js: the selected variant's instances (freshness, positions, orders) and its
 * instruments table with the desk's columns (columns.js). Rows are keyed by instance and
 * vt_symbol and flash briefly when a light or the last signal changes; a price that moved
 * since the previous snapshot is coloured up or down (the desk's up colour, see prefs).
 */
import { el, ago, localTime, price, decimalsOf, instrumentsOf, light, lastSignal, pathGet, replaceKeepingFocus, LIGHTS, MAX_DECIMALS } from "./util.js";
import { isLight, isPrice, label, sortValue } from "./columns.js";
import { isStale, describeMs, DEFAULT_STALE_MS } from "./stale.js";

function lightCell(on, name) {
  return el("td", { class: `light ${on ? "on" : "off"}`, title: `${name}: ${on ? "on" : "off"}` },
    el("span", { class: "lamp", "aria-hidden": "true" }, on ? "●" : "○"), on ? " on" : " off");
}

function summaryText(obj) {
  if (obj == null) return "–";
  if (typeof obj !== "object") return String(obj);
  if (Array.isArray(obj.positions)) {
    const list = obj.positions.map((p) => `${p.vt_symbol ?? "?"} ${p.volume ?? p.position ?? ""}`.trim());
    return list.length ? list.join(", ") : "none";
  }
  const parts = Object.entries(obj).filter(([, v]) => v == null || typeof v !== "object").map(([k, v]) => `${k} ${v}`);
  return parts.length ? parts.join(", ") : "–";
}

const looksLikeTime = (path, v) => typeof v === "string" && (/_dt$|_at$|time$/.test(path) || /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v));

export class InstrumentsView {
  /**
   * @param {HTMLElement} instancesBox where the per-instance cards go
   * @param {HTMLTableElement} table
   * @param {(vtSymbol: string) => void} onPick an instrument was clicked
   */
  constructor(instancesBox, table, onPick) {
    Object.assign(this, { instancesBox, table, onPick });
    this.sort = { key: "td_count", desc: true };
    this.signatures = new Map(); // row key -> JSON of its state, to flash changed rows
    this.rows = new Map(); // row key -> {sig, width, tr}: unchanged rows are reused
    this.prices = new Map(); // row key -> {value, dir} of last_price, for the up/down colour
    this.decimals = new Map(); // vt_symbol -> most decimals seen in its prices
    this.snapshots = [];
    this.cols = [];
    this.staleMs = DEFAULT_STALE_MS;
  }

  /** Forgets the rows of the previous variant (no flash on first render). */
  reset() {
    this.signatures.clear();
    this.rows.clear();
    this.prices.clear();
    this.headKey = null;
    this.snapshots = [];
  }

  /**
   * Renders the snapshots (one per instance) of the selected variant with columns `cols`
   * (dotted paths); `staleMs` marks old instances.
   */
  render(snapshots, cols = this.cols, staleMs = this.staleMs) {
    this.snapshots = snapshots;
    if (JSON.stringify(cols) !== JSON.stringify(this.cols)) this.rows.clear();
    this.cols = cols;
    this.staleMs = staleMs;
    this._instances(snapshots);
    this._table(snapshots);
  }

  /** Redraws every row (another time zone or colour setting). */
  redraw() {
    this.rows.clear();
    this.render(this.snapshots);
  }

  /** Refreshes the "updated n s ago" texts and stale marks. */
  tick() {
    for (const node of this.instancesBox.querySelectorAll("[data-updated]")) {
      const stale = isStale(node.dataset.updated, this.staleMs);
      node.querySelector(".age").textContent = `updated ${ago(node.dataset.updated)}`;
      node.classList.toggle("stale", stale);
      const badge = node.querySelector(".stale-badge");
      badge.hidden = !stale;
      badge.textContent = `⚠ stale: no update for over ${describeMs(this.staleMs)}`;
    }
  }

  _instances(snapshots) {
    const cards = snapshots.map((s) => el("article", { class: "instance", dataset: { updated: s.updated_at, instance: s.instance_id } },
      el("h3", {}, s.instance_id),
      el("p", { class: "age" }, `updated ${ago(s.updated_at)}`),
      el("p", { class: "stale-badge", hidden: true }),
      el("p", {}, el("span", { class: "muted" }, "Positions: "), summaryText(s.payload?.positions_summary)),
      el("p", {}, el("span", { class: "muted" }, "Orders: "), summaryText(s.payload?.orders_summary))));
    this.instancesBox.replaceChildren(...cards);
    this.tick();
  }

  _table(snapshots) {
    const multi = snapshots.length > 1;
    const cols = [...(multi ? ["instance_id"] : []), "vt_symbol", ...this.cols];
    const rows = snapshots.flatMap((s) => instrumentsOf(s.payload).map((i) => ({ ...i, instance_id: s.instance_id })));
    for (const r of rows) this._learnDecimals(r);
    const key = cols.includes(this.sort.key) ? this.sort.key : "vt_symbol";
    const dir = this.sort.desc ? -1 : 1;
    rows.sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      const cmp = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
      return cmp * dir || a.vt_symbol.localeCompare(b.vt_symbol);
    });
    const headKey = `${cols}|${key}|${this.sort.desc}`;
    if (this.headKey !== headKey) this._head(cols, key, headKey);
    const body = rows.map((r) => this._row(r, cols));
    if (body.length === 0) body.push(el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, "No instruments in the snapshot.")));
    replaceKeepingFocus(this.table.tBodies[0], body);
  }

  /** The most decimals any price field of the instrument was written with (kept per vt_symbol). */
  _learnDecimals(r) {
    let d = this.decimals.get(r.vt_symbol) ?? 0;
    for (const [k, v] of Object.entries(r)) if (isPrice(k) && typeof v === "number") d = Math.max(d, decimalsOf(v));
    this.decimals.set(r.vt_symbol, Math.min(d, MAX_DECIMALS));
  }

  /** The header row: one sort button per column (rebuilt only when columns or sort change). */
  _head(cols, key, headKey) {
    this.headKey = headKey;
    const text = { instance_id: "Instance", vt_symbol: "Instrument" };
    const head = el("tr", {}, cols.map((c) => el("th", {
      scope: "col",
      "aria-sort": c === key ? (this.sort.desc ? "descending" : "ascending") : null,
      class: this._isNum(c) ? "num" : null,
      dataset: { col: c },
    }, el("button", { type: "button", onclick: () => this._sortBy(c) },
      text[c] ?? label(c), c === key ? (this.sort.desc ? " ▼" : " ▲") : ""))));
    this.table.tHead.replaceChildren(head);
  }

  _isNum(c) {
    if (c === "td_count" || isPrice(c)) return true;
    const r = instrumentsOf(this.snapshots[0]?.payload)[0];
    return typeof pathGet(r, c) === "number";
  }

  _row(r, cols) {
    const key = `${r.instance_id}|${r.vt_symbol}`;
    const sig = JSON.stringify(r);
    const prev = this.rows.get(key);
    if (prev && prev.sig === sig && prev.width === cols.length) return prev.tr; // keeps focus
    // Flash on a change of state (a light, the last signal), not on every bar's new price or count.
    const state = JSON.stringify([LIGHTS.map((l) => light(r, l)), r.last_signal]);
    const changed = this.signatures.has(key) && this.signatures.get(key) !== state;
    this.signatures.set(key, state);
    const move = this._priceMove(key, r.last_price);
    const cells = cols.map((c) => this._cell(r, c, move));
    const tr = el("tr", { class: changed ? "flash" : null, dataset: { key, symbol: r.vt_symbol } }, cells);
    this.rows.set(key, { sig, width: cols.length, tr });
    return tr;
  }

  /** "up", "down" or null: how last_price moved at its last change. */
  _priceMove(key, value) {
    const p = this.prices.get(key);
    if (typeof value !== "number") return null;
    if (!p) {
      this.prices.set(key, { value, dir: null });
      return null;
    }
    if (value !== p.value) Object.assign(p, { value, dir: value > p.value ? "up" : "down" });
    return p.dir;
  }

  _cell(r, c, move) {
    if (isLight(c)) {
      const name = c.split(".").at(-1);
      return lightCell(c.includes(".") ? Boolean(pathGet(r, c)) : light(r, name), name);
    }
    if (c === "vt_symbol") {
      return el("th", { scope: "row" }, el("button", { type: "button", class: "link", onclick: () => this.onPick(r.vt_symbol) }, r.vt_symbol));
    }
    if (c === "instance_id") return el("td", {}, r.instance_id);
    if (c === "last_signal") {
      const s = lastSignal(r);
      return el("td", { title: s?.reason || null }, s ? s.type : "–",
        s?.reason ? el("span", { class: "visually-hidden" }, ` (${s.reason})`) : null);
    }
    const v = pathGet(r, c);
    if (isPrice(c) && typeof v === "number") {
      const dir = c === "last_price" ? move : null;
      return el("td", { class: `num${dir ? ` move-${dir}` : ""}`, title: dir ? `${dir} since the previous snapshot` : null },
        price(v, this.decimals.get(r.vt_symbol) ?? 2), dir ? el("span", { class: "visually-hidden" }, ` (${dir})`) : null);
    }
    if (typeof v === "number") return el("td", { class: "num" }, String(v));
    if (typeof v === "boolean") return el("td", {}, v ? "yes" : "no");
    if (looksLikeTime(c, v)) return el("td", {}, localTime(v) || v);
    return el("td", {}, v == null || v === "" ? "–" : String(v));
  }

  _sortBy(key) {
    this.sort = { key, desc: this.sort.key === key ? !this.sort.desc : key === "td_count" };
    this._table(this.snapshots);
    this.table.tHead.querySelector(`[aria-sort] button`)?.focus();
  }
}
