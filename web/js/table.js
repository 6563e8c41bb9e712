/**
 * table.js: the selected variant's instances (freshness, positions, orders) and its
 * instruments table (state lights, td_count, last signal, last price, calc_bar_dt). Rows are
 * keyed by instance and vt_symbol and flash briefly when their content changes.
 */
import { el, ago, localTime, price, LIGHTS, instrumentsOf, light, lastSignal, replaceKeepingFocus } from "./util.js";

/**
 * An instance whose snapshot is older than this is marked stale. Bars are minutes long, so a
 * live strategy updates at least once a minute: three missed one-minute bars.
 */
export const STALE_AFTER_MS = 180_000;

export const isStale = (updatedAt, now = Date.now()) => !(now - Date.parse(updatedAt ?? "") < STALE_AFTER_MS);

const COLUMNS = [
  { key: "instance_id", label: "Instance", multiOnly: true, value: (r) => r.instance_id },
  { key: "vt_symbol", label: "Instrument", value: (r) => r.vt_symbol },
  ...LIGHTS.map((name) => ({ key: name, label: name, light: true, value: (r) => (light(r, name) ? 1 : 0) })),
  { key: "td_count", label: "td_count", num: true, value: (r) => Number(r.td_count ?? -Infinity) },
  { key: "last_signal", label: "Last signal", value: (r) => lastSignal(r)?.type ?? "" },
  { key: "last_price", label: "Last price", num: true, value: (r) => Number(r.last_price ?? -Infinity) },
  { key: "calc_bar_dt", label: "calc_bar_dt", value: (r) => String(r.calc_bar_dt ?? "") },
];

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
    this.snapshots = [];
  }

  /** Forgets the rows of the previous variant (no flash on first render). */
  reset() {
    this.signatures.clear();
    this.rows.clear();
    this.headKey = null;
    this.snapshots = [];
  }

  /** Renders the snapshots (one per instance) of the selected variant. */
  render(snapshots) {
    this.snapshots = snapshots;
    this._instances(snapshots);
    this._table(snapshots);
  }

  /** Refreshes the "updated n s ago" texts and stale marks. */
  tick() {
    for (const node of this.instancesBox.querySelectorAll("[data-updated]")) {
      const stale = isStale(node.dataset.updated);
      node.querySelector(".age").textContent = `updated ${ago(node.dataset.updated)}`;
      node.classList.toggle("stale", stale);
      node.querySelector(".stale-badge").hidden = !stale;
    }
  }

  _instances(snapshots) {
    const cards = snapshots.map((s) => el("article", { class: "instance", dataset: { updated: s.updated_at, instance: s.instance_id } },
      el("h3", {}, s.instance_id),
      el("p", { class: "age" }, `updated ${ago(s.updated_at)}`),
      el("p", { class: "stale-badge", hidden: !isStale(s.updated_at) }, "⚠ stale: no update for over 3 min"),
      el("p", {}, el("span", { class: "muted" }, "Positions: "), summaryText(s.payload?.positions_summary)),
      el("p", {}, el("span", { class: "muted" }, "Orders: "), summaryText(s.payload?.orders_summary))));
    this.instancesBox.replaceChildren(...cards);
    this.tick();
  }

  _table(snapshots) {
    const multi = snapshots.length > 1;
    const cols = COLUMNS.filter((c) => !c.multiOnly || multi);
    const rows = snapshots.flatMap((s) => instrumentsOf(s.payload).map((i) => ({ ...i, instance_id: s.instance_id })));
    const col = cols.find((c) => c.key === this.sort.key) ?? cols.find((c) => c.key === "td_count");
    const dir = this.sort.desc ? -1 : 1;
    rows.sort((a, b) => {
      const x = col.value(a), y = col.value(b);
      return (x < y ? -1 : x > y ? 1 : 0) * dir || a.vt_symbol.localeCompare(b.vt_symbol);
    });
    const headKey = `${cols.map((c) => c.key)}|${col.key}|${this.sort.desc}`;
    if (this.headKey !== headKey) this._head(cols, col, headKey);
    const body = rows.map((r) => this._row(r, cols));
    if (body.length === 0) body.push(el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, "No instruments in the snapshot.")));
    replaceKeepingFocus(this.table.tBodies[0], body);
  }

  /** The header row: one sort button per column (rebuilt only when columns or sort change). */
  _head(cols, col, headKey) {
    this.headKey = headKey;
    const head = el("tr", {}, cols.map((c) => el("th", {
      scope: "col",
      "aria-sort": c.key === col.key ? (this.sort.desc ? "descending" : "ascending") : null,
      class: c.num ? "num" : null,
    }, el("button", { type: "button", onclick: () => this._sortBy(c.key) },
      c.label, c.key === col.key ? (this.sort.desc ? " ▼" : " ▲") : ""))));
    this.table.tHead.replaceChildren(head);
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
    const sigInfo = lastSignal(r);
    const cells = cols.map((c) => {
      if (c.light) return lightCell(light(r, c.key), c.key);
      switch (c.key) {
        case "vt_symbol":
          return el("th", { scope: "row" }, el("button", { type: "button", class: "link", onclick: () => this.onPick(r.vt_symbol) }, r.vt_symbol));
        case "td_count": return el("td", { class: "num" }, r.td_count ?? "–");
        case "last_signal":
          return el("td", { title: sigInfo?.reason || null }, sigInfo ? sigInfo.type : "–",
            sigInfo?.reason ? el("span", { class: "visually-hidden" }, ` (${sigInfo.reason})`) : null);
        case "last_price": return el("td", { class: "num" }, price(r.last_price));
        case "calc_bar_dt": return el("td", {}, r.calc_bar_dt ? localTime(r.calc_bar_dt) : "–");
        default: return el("td", {}, String(c.value(r)));
      }
    });
    const tr = el("tr", { class: changed ? "flash" : null, dataset: { key, symbol: r.vt_symbol } }, cells);
    this.rows.set(key, { sig, width: cols.length, tr });
    return tr;
  }

  _sortBy(key) {
    this.sort = { key, desc: this.sort.key === key ? !this.sort.desc : key === "td_count" };
    this._table(this.snapshots);
    this.table.tHead.querySelector(`[aria-sort] button`)?.focus();
  }
}
