/**
 * api.js: the REST calls of the dashboard (`/api/...`, relative to the page so a reverse
 * proxy may mount the gateway under a path). Errors carry the gateway's `{code, message}` and
 * the HTTP `status`. Every call sends the session's token, if any (auth.js); a 401 is also
 * reported to the handler set with `onUnauthorized`, so the page can ask for a token.
 */
import { token as storedToken, withBearer } from "./auth.js";

let unauthorized = null;

/** `fn(err)` is called for every 401 (the token is missing, expired or refused). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * GETs `path` (relative, e.g. "api/variants") with `params`; rejects with the API's error.
 * `token` overrides the stored one (to check a token before storing it); `quiet` keeps a 401
 * from the `onUnauthorized` handler.
 */
export async function get(path, params = {}, { token = storedToken(), quiet = false } = {}) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") url.searchParams.set(k, v);
  const res = await fetch(url, { headers: withBearer({}, token) });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = body?.error ?? { code: `http_${res.status}`, message: `${url.pathname}: HTTP ${res.status}` };
    const err = Object.assign(new Error(e.message), { code: e.code, status: res.status });
    if (res.status === 401 && !quiet) unauthorized?.(err);
    throw err;
  }
  return body;
}

export const variants = () => get("api/variants").then((b) => b.variants ?? []);

export const snapshots = (variant) =>
  get(`api/snapshot/${encodeURIComponent(variant)}`).then((b) => b.snapshots ?? []);

/** The overview of every variant: `{variants: [summary, ...]}` (404 on an older gateway). */
export const overview = () => get("api/overview", {}, { quiet: false });

/** The gateway's settings for the page: `{bars_timezone, overview_interval_ms}`. */
export const config = () => get("api/config");

/** One page of events, ascending seq. */
export const events = (variant, params) => get(`api/events/${encodeURIComponent(variant)}`, params);

/** Bars, ascending, in UTC. */
export const bars = (params) => get("api/bars", params).then((b) => b.bars ?? []);
