/**
 * columns.js: the instruments table's columns, chosen by the desk. A column is a dotted path into
 * an instrument's payload (`td_count`, `status.trend`); a few names render specially: the four
 * lights (read from `status.<name>` or `<name>`), `last_signal`, times (`*_dt`, ISO strings) and
 * prices (`*price*`, with the decimals seen for that instrument). The choice is kept per variant
 * in localStorage (`signalgate.cols.<variant>`) and shared in the URL (`cols=a,b,c`).
 *
 * The picker (a disclosure under the table) lists every field present in the data: a checkbox
 * shows or hides it, ↑/↓ buttons move a shown column.
 */
import { el, LIGHTS, pathGet, scalarPaths, instrumentsOf } from "./util.js";
import * as prefs from "./prefs.js";

/** The design document's `instrument_state`: the columns shown until the desk picks others. */
export const DEFAULT_COLUMNS = [...LIGHTS, "td_count", "last_signal", "last_price", "calc_bar_dt"];

const LABELS = { last_signal: "Last signal", last_price: "Last price" };
/** Fields always shown first (the row's key), never in the picker. */
const FIXED = new Set(["vt_symbol", "instance_id"]);

export const isLight = (path) => LIGHTS.includes(path.split(".").at(-1)) && (path.split(".").length === 1 || path.startsWith("status."));
export const isPrice = (path) => /price/i.test(path.split(".").at(-1));
export const label = (path) => LABELS[path] ?? path;

/** Parses `cols=` of the URL: known-looking dotted paths, in order, no duplicates. */
export function parseCols(text) {
  if (!text) return null;
  const list = [...new Set(text.split(",").map((s) => s.trim()).filter((s) => /^[\w.-]{1,80}$/.test(s) && !FIXED.has(s)))];
  return list.length ? list : null;
}

/** The columns of `variant`: stored, else the defaults. */
export const storedCols = (variant) => {
  const v = prefs.load(`cols.${variant}`, null);
  return Array.isArray(v) && v.every((s) => typeof s === "string") ? v : null;
};

/** Every scalar field path of the instruments of `snapshots`, plus the defaults (sorted). */
export function availableFields(snapshots) {
  const set = new Set(DEFAULT_COLUMNS);
  for (const s of snapshots) for (const i of instrumentsOf(s.payload)) scalarPaths(i, 3, "", set);
  for (const f of FIXED) set.delete(f);
  // A light under status.* is the same column as the light itself.
  for (const l of LIGHTS) set.delete(`status.${l}`);
  // The parts of last_signal are shown by the last_signal column.
  for (const f of [...set]) if (f.startsWith("last_signal.")) set.delete(f);
  const rank = (f) => (DEFAULT_COLUMNS.includes(f) ? DEFAULT_COLUMNS.indexOf(f) : DEFAULT_COLUMNS.length);
  return [...set].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** A sortable value of `path` in row `r`. */
export function sortValue(r, path) {
  if (isLight(path)) return Boolean(r?.status?.[path.split(".").at(-1)] ?? pathGet(r, path)) ? 1 : 0;
  if (path === "last_signal") {
    const s = r.last_signal;
    return typeof s === "string" ? s : String(s?.signal_type ?? s?.type ?? "");
  }
  const v = pathGet(r, path);
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  return v == null ? -Infinity : String(v);
}

/** The column picker: checkboxes and move buttons; `onChange(cols)` on every change. */
export class ColumnPicker {
  /** @param {HTMLElement} box @param {(cols: string[]) => void} onChange */
  constructor(box, onChange) {
    Object.assign(this, { box, onChange });
    this.cols = DEFAULT_COLUMNS.slice();
    this.fields = DEFAULT_COLUMNS.slice();
    this.list = el("ul", { class: "col-list", "aria-label": "Columns" });
    this.details = el("details", { class: "col-picker" },
      el("summary", {}, "Columns"),
      el("p", { class: "muted small" }, "Tick a field to show it; ↑ and ↓ move a shown column. Kept for this variant in this browser and in the page's URL."),
      this.list,
      el("button", { type: "button", class: "small-btn", onclick: () => this._set(DEFAULT_COLUMNS.slice()) }, "Reset to default columns"));
    box.replaceChildren(this.details);
  }

  /** Sets the shown columns and the fields known from the data; redraws the list if open or changed. */
  update(cols, fields) {
    const key = JSON.stringify([cols, fields]);
    if (key === this.key) return;
    this.key = key;
    this.cols = cols.slice();
    this.fields = fields;
    this._draw();
  }

  _set(cols) {
    this.cols = cols;
    this.key = null;
    this.onChange(cols.slice());
  }

  _draw() {
    const shown = this.cols;
    const rest = this.fields.filter((f) => !shown.includes(f));
    const items = [...shown, ...rest].map((f, idx) => {
      const on = shown.includes(f);
      const i = shown.indexOf(f);
      const id = `col-${idx}`;
      return el("li", { dataset: { field: f } },
        el("input", {
          type: "checkbox", id, checked: on,
          onchange: (e) => this._set(e.target.checked ? [...shown, f] : shown.filter((c) => c !== f)),
        }),
        el("label", { for: id }, label(f)),
        on ? el("button", { type: "button", class: "small-btn", "aria-label": `Move ${label(f)} left`, disabled: i === 0,
          onclick: () => this._move(i, -1) }, "↑") : null,
        on ? el("button", { type: "button", class: "small-btn", "aria-label": `Move ${label(f)} right`, disabled: i === shown.length - 1,
          onclick: () => this._move(i, 1) }, "↓") : null);
    });
    const focused = document.activeElement?.closest?.(".col-list li");
    const refocus = focused && [focused.dataset.field, document.activeElement.getAttribute("aria-label"), document.activeElement.type];
    this.list.replaceChildren(...items);
    if (refocus) {
      const li = this.list.querySelector(`li[data-field="${CSS.escape(refocus[0])}"]`);
      const target = li && ([...li.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === refocus[1] && !b.disabled)
        ?? li.querySelector("input"));
      target?.focus();
    }
  }

  _move(i, by) {
    const c = this.cols.slice();
    [c[i], c[i + by]] = [c[i + by], c[i]];
    this._set(c);
  }
}
