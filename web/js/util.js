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

/** A time for display, in the browser's zone: "2026-11-21 13:42:00". */
export function localTime(isoOrSeconds) {
  const d = typeof isoOrSeconds === "number" ? new Date(isoOrSeconds * 1000) : new Date(isoOrSeconds);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A price with up to 2 decimals, or "–". */
export const price = (v) => (typeof v === "number" ? v.toFixed(2) : "–");

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
