/**
 * api.js: the REST calls of the dashboard (`/api/...`, relative to the page so a reverse
 * proxy may mount the gateway under a path). Errors carry the gateway's `{code, message}`.
 */

/** GETs `path` (relative, e.g. "api/variants") with `params`; rejects with the API's error. */
export async function get(path, params = {}) {
  const url = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") url.searchParams.set(k, v);
  const res = await fetch(url);
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = body?.error ?? { code: `http_${res.status}`, message: `${url.pathname}: HTTP ${res.status}` };
    throw Object.assign(new Error(e.message), { code: e.code, status: res.status });
  }
  return body;
}

export const variants = () => get("api/variants").then((b) => b.variants ?? []);

export const snapshots = (variant) =>
  get(`api/snapshot/${encodeURIComponent(variant)}`).then((b) => b.snapshots ?? []);

/** One page of events, ascending seq. */
export const events = (variant, params) => get(`api/events/${encodeURIComponent(variant)}`, params);

/** Bars, ascending, in UTC. */
export const bars = (params) => get("api/bars", params).then((b) => b.bars ?? []);
