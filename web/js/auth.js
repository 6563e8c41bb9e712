/**
 * auth.js: the dashboard's side of token authentication (docs/security.md). A gateway started
 * with `--jwt-secret` or `--jwt-public-key` answers REST calls without a valid token with 401
 * and refuses the Socket.IO handshake with `connect_error`; the page then asks for a token.
 * The token lives in `sessionStorage` only (one tab, gone when the tab closes; never
 * localStorage, never the URL) and goes on every REST call (`Authorization: Bearer`) and in the
 * Socket.IO handshake (`auth: {token}`, read at each (re)connect). Without authentication on the
 * gateway nothing here shows: no token is stored and no header is sent.
 *
 * The functions are pure or only touch `sessionStorage`; the form is `TokenEntry` in signin.js.
 */

/** The sessionStorage key of the token. */
export const TOKEN_KEY = "signalgate.token";

/** The stored token, or null (also when storage is unavailable). */
export function token() {
  try {
    return globalThis.sessionStorage?.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

/** Stores `value` for this tab. */
export function setToken(value) {
  globalThis.sessionStorage?.setItem(TOKEN_KEY, value);
}

/** Forgets the token (sign out, or the gateway refused it). */
export function clearToken() {
  try {
    globalThis.sessionStorage?.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable: nothing was stored
  }
}

/**
 * A pasted token without surrounding whitespace or a leading `Bearer `; null when nothing is
 * left or it contains whitespace inside (not a JWT).
 */
export function normalizeToken(input) {
  const t = String(input ?? "").replace(/^\s*bearer(\s+|$)/i, "").trim();
  return t && !/\s/.test(t) ? t : null;
}

/** `headers` (a plain object) with `Authorization: Bearer <tok>` added when there is a token. */
export function withBearer(headers = {}, tok = token()) {
  return tok ? { ...headers, Authorization: `Bearer ${tok}` } : headers;
}

/** The Socket.IO handshake payload: `{token}`, or `{}` without a token. */
export const handshake = (tok = token()) => (tok ? { token: tok } : {});

/** `fetch` that adds the bearer token (for the realtime helper's REST gap fill). */
export function fetchWithToken(url, init = {}) {
  return fetch(url, { ...init, headers: withBearer(init.headers ?? {}) });
}

/**
 * Why the gateway refused a token, from its message (REST 401 `error.message`, Socket.IO
 * `connect_error` message, `auth_expired`): "missing", "expired", "invalid"; null when the
 * message is not an authentication refusal (e.g. a lost connection or "origin not allowed").
 */
export function refusal(message) {
  const m = String(message ?? "");
  if (/^authentication required/i.test(m)) return "missing";
  if (/token expired/i.test(m)) return "expired";
  if (/^invalid token/i.test(m)) return "invalid";
  return null;
}

/**
 * What the token entry says about a refusal: nothing for a missing token (the form explains
 * itself), else the gateway's reason in a sentence.
 */
export function refusalText(message) {
  switch (refusal(message)) {
    case "missing":
      return null;
    case "expired":
      return "Your token expired. Enter a new token to continue.";
    default:
      return `The gateway refused the token: ${message}`;
  }
}
