/**
 * stale.js: when a strategy counts as stale (its newest snapshot is older than a threshold). The
 * default threshold is three bar periods of the snapshot's `bar_interval` × `bar_window` (three
 * missed bars; 3 min for 1-minute bars); the desk may set its own per variant, in minutes
 * (localStorage `signalgate.stale.<variant>`).
 */
import * as prefs from "./prefs.js";

/** Without bar_interval in the snapshot: three one-minute bars. */
export const DEFAULT_STALE_MS = 180_000;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** Seconds of one bar of `interval` ("1m", "15m", "1h", "d", "w") × `window`, or null. */
export function barSeconds(interval, window = 1) {
  const m = /^(\d*)([smhdw])$/.exec(String(interval ?? "").trim().toLowerCase());
  if (!m) return null;
  return (Number(m[1]) || 1) * UNIT_SECONDS[m[2]] * (Number(window) > 0 ? Number(window) : 1);
}

/** The default threshold (ms) for snapshots of `barInterval` × `barWindow`. */
export function defaultStaleMs(barInterval, barWindow) {
  const s = barSeconds(barInterval, barWindow);
  return s ? 3 * s * 1000 : DEFAULT_STALE_MS;
}

/** Thresholds read from localStorage, by variant (read once: the tick asks every second). */
const custom = new Map();

/** The desk's own threshold of `variant` in minutes, or null (the default applies). */
export const customStaleMinutes = (variant) => {
  if (!custom.has(variant)) {
    const v = prefs.load(`stale.${variant}`, null);
    custom.set(variant, typeof v === "number" && v > 0 ? v : null);
  }
  return custom.get(variant);
};

/** Sets (minutes > 0) or clears (null) the desk's threshold of `variant`. */
export const setCustomStaleMinutes = (variant, minutes) => {
  custom.delete(variant);
  prefs.save(`stale.${variant}`, minutes > 0 ? minutes : null);
};

/** The threshold (ms) of `variant` whose newest snapshot has `barInterval` × `barWindow`. */
export function staleAfterMs(variant, barInterval, barWindow) {
  const minutes = customStaleMinutes(variant);
  return minutes ? minutes * 60_000 : defaultStaleMs(barInterval, barWindow);
}

/** Whether a snapshot updated at `updatedAt` is older than `afterMs`. */
export const isStale = (updatedAt, afterMs = DEFAULT_STALE_MS, now = Date.now()) => !(now - Date.parse(updatedAt ?? "") < afterMs);

/** "3 min", "45 s", "2 h" for a threshold. */
export function describeMs(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
