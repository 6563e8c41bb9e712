/**
 * util.js: small helpers shared by the dashboard modules (DOM building, times, payload
 * normalisation). No state lives here.
 */

/** Creates an element: `el("td", {class: "x", title: "t"}, "text", child)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c != null && c !== false) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** Seconds since the epoch of an RFC 3339 time, or null. */
export const toSeconds = (iso) => {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
};

/** "12 s ago", "4 min ago", "3 h ago". */
export function ago(iso, now = Date.now()) {
  const ms = Date.parse(iso ?? "");
  if (!Number.isFinite(ms)) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/**
 * The zone times are shown in: null = the browser's own, else an IANA name (the bars' zone,
 * "exchange time"). Set by the page (prefs.js); every formatter below follows it.
 */
let displayZone = null;
const formatters = new Map(); // zone -> Intl.DateTimeFormat

/** Shows times in `zone` (an IANA name) from now on; null = the browser's zone. */
export function setDisplayZone(zone) {
  displayZone = zone || null;
}

/** The zone times are shown in, as a short label ("Asia/Shanghai", "local Europe/Berlin"). */
export function zoneLabel() {
  return displayZone ?? `${Intl.DateTimeFormat().resolvedOptions().timeZone ?? "browser"} (local)`;
}

/** Calendar fields {year, month, day, hour, minute, second} of `d` in the display zone. */
export function zoneParts(d) {
  if (!displayZone) {
    return { year: d.getFullYear(), month: d.getMonth() + 1, day: d.getDate(), hour: d.getHours(), minute: d.getMinutes(), second: d.getSeconds() };
  }
  let f = formatters.get(displayZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: displayZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    });
    formatters.set(displayZone, f);
  }
  const out = {};
  for (const { type, value } of f.formatToParts(d)) if (type in { year: 1, month: 1, day: 1, hour: 1, minute: 1, second: 1 }) out[type] = Number(value);
  return out;
}

/** A time for display, in the display zone: "2026-11-21 13:42:00". */
export function localTime(isoOrSeconds) {
  const d = typeof isoOrSeconds === "number" ? new Date(isoOrSeconds * 1000) : new Date(isoOrSeconds);
  if (Number.isNaN(d.getTime())) return "";
  const t = zoneParts(d);
  const p = (n) => String(n).padStart(2, "0");
  return `${t.year}-${p(t.month)}-${p(t.day)} ${p(t.hour)}:${p(t.minute)}:${p(t.second)}`;
}

/** Decimals of a number as written (3.25 → 2, 4000 → 0), at most MAX_DECIMALS. */
export const MAX_DECIMALS = 6;
export function decimalsOf(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return 0;
  const s = String(v);
  if (s.includes("e")) return MAX_DECIMALS;
  const dot = s.indexOf(".");
  return dot < 0 ? 0 : Math.min(MAX_DECIMALS, s.length - dot - 1);
}

/** A price with `decimals` decimals (default 2), or "–". */
export const price = (v, decimals = 2) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(decimals) : "–");

/** The value at a dotted `path` ("status.trend") of `obj`, or undefined. */
export function pathGet(obj, path) {
  let v = obj;
  for (const k of path.split(".")) {
    if (v == null || typeof v !== "object") return undefined;
    v = v[k];
  }
  return v;
}

/**
 * The dotted paths of the scalar fields (numbers, booleans, strings) of `obj`, nested objects
 * flattened up to `depth` levels; arrays and null are skipped.
 */
export function scalarPaths(obj, depth = 3, prefix = "", out = new Set()) {
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v != null && typeof v === "object" && !Array.isArray(v)) {
      if (depth > 1) scalarPaths(v, depth - 1, p, out);
    } else if (["number", "boolean", "string"].includes(typeof v)) out.add(p);
  }
  return out;
}

/** The four state lights, in display order. */
export const LIGHTS = ["dull_top", "dull_bottom", "div_top", "div_bottom"];

/**
 * The instruments of a snapshot payload as a list of `{vt_symbol, ...}`. The design document
 * specifies a map keyed by vt_symbol; older writers send a list. Both are accepted.
 */
export function instrumentsOf(payload) {
  const raw = payload?.instruments;
  if (Array.isArray(raw)) return raw.filter((i) => i && typeof i.vt_symbol === "string");
  if (raw && typeof raw === "object") {
    return Object.entries(raw)
      .filter(([, v]) => v && typeof v === "object")
      .map(([k, v]) => ({ ...v, vt_symbol: typeof v.vt_symbol === "string" ? v.vt_symbol : k }));
  }
  return [];
}

/** A light's value, from `status.{name}` (demo, VnPy monitor) or a top-level field. */
export const light = (inst, name) => Boolean(inst?.status?.[name] ?? inst?.[name]);

/** `{type, reason}` of an instrument's last signal (an object or a plain string). */
export function lastSignal(inst) {
  const s = inst?.last_signal;
  if (!s) return null;
  if (typeof s === "string") return { type: s, reason: "" };
  return { type: String(s.signal_type ?? s.type ?? "?"), reason: String(s.reason ?? "") };
}

/**
 * Sets `parent`'s children to `nodes` (skipped when they are already in that order) and gives
 * the focus back to the element that had it, so live updates do not steal a keyboard user's place.
 */
export function replaceKeepingFocus(parent, nodes) {
  const active = document.activeElement;
  const kids = parent.children;
  const same = kids.length === nodes.length && nodes.every((n, i) => kids[i] === n);
  if (!same) parent.replaceChildren(...nodes);
  if (active && active !== document.activeElement && active.isConnected) active.focus({ preventScroll: true });
}
