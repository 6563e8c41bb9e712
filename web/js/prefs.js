/**
 * prefs.js: the desk's settings kept in this browser's localStorage, all under keys starting with
 * `signalgate.` (see docs/dashboard.md, "Settings"). Reads never throw: a missing, unreadable or
 * malformed value gives the default (private windows may refuse storage altogether).
 */

const PREFIX = "signalgate.";

/** The stored JSON value of `key`, or `fallback`. */
export function load(key, fallback) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw == null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

/** Stores `value` as JSON under `key` (null or undefined removes it). */
export function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(PREFIX + key);
    else localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // storage full or refused: the setting lasts for this page only
  }
}
