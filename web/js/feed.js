/**
 * feed.js: the event feed of the selected variant, newest first, filtered by type and
 * instrument. Events are keyed by `seq`, so an event delivered twice (a REST page and a live
 * push) is one row; the client helper already delivers each live event once.
 */
import { el, localTime, price, decimalsOf, replaceKeepingFocus } from "./util.js";

/** Rows kept; older ones are dropped (the REST API has them all). */
const MAX_ROWS = 500;

function summary(ev) {
  const p = ev.payload ?? {};
  switch (ev.event_type) {
    case "signal":
      return [p.signal_type, p.reason, p.price != null ? `@ ${price(p.price, Math.max(2, decimalsOf(p.price)))}` : null].filter(Boolean).join(" · ");
    case "state_change":
      return `${p.state_name ?? "state"}: ${p.old ? "on" : "off"} → ${p.new ? "on" : "off"}`;
    case "alert":
      return String(p.message ?? p.alert_type ?? "alert");
    default: {
      const text = ev.payload == null ? (ev.payload_raw ?? "") : JSON.stringify(ev.payload);
      return text.length > 80 ? `${text.slice(0, 79)}…` : text;
    }
  }
}

export class Feed {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLSelectElement} typeSelect
   * @param {HTMLSelectElement} symbolSelect
   * @param {(ev: object) => void} onPick an event was clicked
   */
  constructor(list, typeSelect, symbolSelect, onPick) {
    Object.assign(this, { list, typeSelect, symbolSelect, onPick });
    this.events = new Map(); // seq -> event
    this.nodes = new Map(); // seq -> <li>
    this.variant = null;
    this.pending = false;
    typeSelect.addEventListener("change", () => this.render());
    symbolSelect.addEventListener("change", () => this.render());
  }

  /** Empties the feed for another variant. */
  reset(variant) {
    this.variant = variant;
    this.events.clear();
    this.nodes.clear();
    this.list.replaceChildren();
  }

  /** Adds events of the current variant (others are ignored); renders on the next frame. */
  add(events, { fresh = false } = {}) {
    for (const ev of events) {
      if (ev?.variant !== this.variant || typeof ev.seq !== "number" || this.events.has(ev.seq)) continue;
      this.events.set(ev.seq, ev);
      if (fresh) ev._fresh = true;
    }
    if (this.events.size > MAX_ROWS) {
      const drop = [...this.events.keys()].sort((a, b) => a - b).slice(0, this.events.size - MAX_ROWS);
      for (const seq of drop) { this.events.delete(seq); this.nodes.delete(seq); }
    }
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.render(); });
    }
  }

  /** The instrument filter's choices. */
  setSymbols(symbols) {
    const keep = this.symbolSelect.value;
    this.symbolSelect.replaceChildren(el("option", { value: "" }, "all"), ...symbols.map((s) => el("option", { value: s }, s)));
    this.symbolSelect.value = symbols.includes(keep) ? keep : "";
  }

  /** Rebuilds every row (another time zone). */
  redraw() {
    this.nodes.clear();
    this.render();
  }

  render() {
    const type = this.typeSelect.value, sym = this.symbolSelect.value;
    const shown = [...this.events.values()]
      .filter((e) => (!type || e.event_type === type) && (!sym || e.vt_symbol === sym))
      .sort((a, b) => b.seq - a.seq);
    const rows = shown.map((ev) => this.nodes.get(ev.seq) ?? this._row(ev));
    if (rows.length === 0) rows.push(el("li", { class: "muted empty" }, "No events yet."));
    replaceKeepingFocus(this.list, rows);
  }

  _row(ev) {
    const when = ev.bar_dt ?? ev.created_at;
    const li = el("li", { class: `event type-${ev.event_type}${ev._fresh ? " flash" : ""}`, dataset: { seq: ev.seq } },
      el("button", {
        type: "button",
        title: `Show ${ev.vt_symbol} at ${localTime(when)} on the chart`,
        onclick: () => this.onPick(ev),
      },
      el("span", { class: "ev-time" }, localTime(when).slice(5)),
      el("span", { class: `ev-type badge-${ev.event_type}` }, ev.event_type),
      el("span", { class: "ev-sym" }, ev.vt_symbol),
      el("span", { class: "ev-text" }, summary(ev))));
    this.nodes.set(ev.seq, li);
    return li;
  }
}
