/**
 * app.js: the dashboard's entry point. It keeps the selection (variant, instrument, interval,
 * span, columns) in the URL. The sidebar follows the gateway's overview of every variant
 * (`GET /api/overview` for the first paint, then `subscribe_overview` / `overview_update`); only
 * the selected variant is subscribed through the realtime helper (its snapshots and events feed
 * the table, the feed, the chart and the alerts). Against a gateway without the overview (404),
 * every variant is subscribed as before, up to MAX_LIVE_VARIANTS. It follows the chart's bar
 * series (bars.js) and wires the views together. Plain ES modules, no build step; dependencies
 * are vendored in ../vendor.
 *
 * A gateway with authentication (401 on REST, an auth refusal on the Socket.IO handshake, or
 * `auth_expired`) gets the token entry (signin.js) instead of the dashboard; the token is kept
 * in sessionStorage and sent on every REST call and handshake (auth.js).
 */
import { io } from "../vendor/socket.io.esm.min.js";
import { SignalgateClient } from "../signalgate-client.js";
import * as api from "./api.js";
import * as auth from "./auth.js";
import { BarFeed } from "./bars.js";
import { CandleChart } from "./chart.js";
import { ConnectionStatus } from "./connection.js";
import { Feed } from "./feed.js";
import { Sidebar, staleness } from "./sidebar.js";
import { TokenEntry } from "./signin.js";
import { InstrumentsView } from "./table.js";
import { AlertCenter } from "./alerts.js";
import { ColumnPicker, DEFAULT_COLUMNS, availableFields, parseCols, storedCols } from "./columns.js";
import { Settings } from "./settings.js";
import * as prefs from "./prefs.js";
import { el, instrumentsOf } from "./util.js";

/** How often the variant list is re-read, to pick up new strategies. */
const VARIANTS_REFRESH_MS = 10_000;
/** Events of the selected variant read over REST when it is opened (then live). */
const FEED_HISTORY = 300;
/** The gateway's default --max-subscriptions; further variants are listed but not live. */
const MAX_LIVE_VARIANTS = 32;

const $ = (id) => document.getElementById(id);

const state = {
  // name -> {variant, instances, updated_at, snapshots: Map(instance -> snapshot), and with the
  // overview: bar_interval, bar_window, lights, last_seq, last_event}
  variants: new Map(),
  order: [], // variant names, sorted
  subs: new Map(), // name -> Promise of the first ack
  overview: null, // true: the gateway serves the overview; false: it does not (404); null: unknown yet
  variant: null,
  instrument: null,
  interval: "1m",
  span: "recent",
  cols: null, // the URL's columns (null: the variant's stored ones, else the defaults)
  started: false, // the variant list was read once (main's loop is done)
  tokenEntered: null, // Promise resolved when the token entry accepted a token
};

const client = new SignalgateClient(location.origin, {
  io,
  fetch: auth.fetchWithToken, // the helper's REST gap fill
  // A function, so every (re)connect sends the token stored at that moment.
  socketOptions: { auth: (cb) => cb(auth.handshake()) },
});
const conn = new ConnectionStatus($("conn"), $("conn-text"));
const openVariant = (v) => select({ variant: v, instrument: null, cols: null }, true);
const sidebar = new Sidebar(
  { list: $("variants"), search: $("variant-search"), filter: $("variant-filter"), count: $("variant-count") }, openVariant);
const view = new InstrumentsView($("instances"), $("instruments"), (s) => select({ instrument: s }));
const feed = new Feed($("feed"), $("feed-type"), $("feed-symbol"), pickEvent);
const chart = new CandleChart($("chart"), $("chart-note"));
const barFeed = new BarFeed(client.socket, (bar) => chart.applyBar(bar));
const alerts = new AlertCenter(
  { panel: $("alerts"), list: $("alert-list"), settings: $("alert-settings"), header: $("alarm") }, openVariant);
alerts.onStaleSetting = () => { renderVariant(); tick(); };
const picker = new ColumnPicker($("col-picker"), (cols) => {
  prefs.save(`cols.${state.variant}`, JSON.stringify(cols) === JSON.stringify(DEFAULT_COLUMNS) ? null : cols);
  state.cols = null;
  writeUrl(false);
  renderVariant();
});
const settings = new Settings({ zone: $("tz-select"), updown: $("updown-select"), zoneLabels: () => document.querySelectorAll("[data-zone]") }, () => {
  view.redraw();
  feed.redraw();
  chart.restyle();
  alerts.redraw();
});
const signin = new TokenEntry(
  { section: $("signin"), form: $("signin-form"), input: $("token-input"), error: $("signin-error") },
  (token) => api.get("api/variants", {}, { token, quiet: true }),
);

/** For tests and debugging from the console. */
window.signalgate = { client, chart, state, conn, barFeed, alerts, sidebar, settings };

function readUrl() {
  const q = new URLSearchParams(location.search);
  return {
    variant: q.get("variant") || null,
    instrument: q.get("instrument") || null,
    // VnPy's "d" (the gateway answers "1d" as "d", also in bar_update).
    interval: q.get("interval") === "1d" ? "d" : (q.get("interval") || "1m"),
    span: q.get("span") || "recent",
    cols: parseCols(q.get("cols")),
  };
}

/** The columns shown for the selected variant: the URL's, else the stored ones, else the defaults. */
const columns = () => state.cols ?? storedCols(state.variant) ?? DEFAULT_COLUMNS;

function writeUrl(push) {
  const q = new URLSearchParams();
  if (state.variant) q.set("variant", state.variant);
  if (state.instrument) q.set("instrument", state.instrument);
  if (state.interval !== "1m") q.set("interval", state.interval);
  if (state.span !== "recent") q.set("span", state.span);
  const cols = columns();
  if (state.variant && JSON.stringify(cols) !== JSON.stringify(DEFAULT_COLUMNS)) q.set("cols", cols.join(","));
  const url = `${location.pathname}?${q}`;
  if (url !== `${location.pathname}${location.search}`) history[push ? "pushState" : "replaceState"](null, "", url);
}

function message(text) {
  const box = $("message");
  box.hidden = !text;
  box.replaceChildren(...(Array.isArray(text) ? text : [text ?? ""]));
}

function variantsList() {
  return state.order.map((n) => state.variants.get(n));
}

/** Reads /api/variants (a gateway without the overview), subscribes to new ones and redraws the sidebar. */
async function refreshVariants() {
  if (signin.active) return false;
  let list;
  try {
    list = await api.variants();
  } catch (err) {
    if (err.status === 401) return false; // the token entry is up (onUnauthorized)
    if (state.order.length === 0) message(`The gateway's variant list could not be read: ${err.message}. Retrying…`);
    return false;
  }
  for (const v of list) {
    const known = state.variants.get(v.variant);
    if (known) Object.assign(known, { instances: v.instances, updated_at: v.updated_at });
    else state.variants.set(v.variant, { ...v, snapshots: new Map() });
  }
  state.order = list.map((v) => v.variant);
  for (const name of state.order.slice(0, MAX_LIVE_VARIANTS)) if (!state.subs.has(name)) subscribe(name);
  sidebar.render(variantsList(), state.variant);
  if ($("view").hidden) openFirstView();
  return true;
}

/**
 * The first paint from `GET /api/overview`: true when it answered (the overview is then followed
 * live), false on an error (retried), and `null` when the gateway has no overview (404).
 */
async function loadOverview() {
  if (signin.active) return false;
  try {
    applyOverview((await api.overview()).variants ?? [], true);
  } catch (err) {
    if (err.status === 404) return null;
    if (err.status === 401) return false;
    if (state.order.length === 0) message(`The gateway's overview could not be read: ${err.message}. Retrying…`);
    return false;
  }
  state.overview = true;
  if (client.socket.connected) followOverview();
  if ($("view").hidden) openFirstView();
  return true;
}

/** `subscribe_overview` (again after every reconnect): its ack has every summary. */
function followOverview() {
  client.socket.timeout(10_000).emit("subscribe_overview", {}, (err, ack) => {
    if (err || !ack?.ok) {
      console.warn("subscribe_overview:", err?.message ?? ack?.error?.message);
      return;
    }
    applyOverview(ack.variants ?? [], true);
  });
}

/**
 * Merges overview summaries; `all`: the list is complete (variants missing from it are gone).
 * A summary whose last_seq moved on tells the alerts about its last event (the selected
 * variant's events come through its subscription instead).
 */
function applyOverview(summaries, all = false) {
  const seen = new Set();
  let added = false;
  for (const sum of summaries) {
    if (!sum || typeof sum.variant !== "string") continue;
    seen.add(sum.variant);
    if (sum.removed) {
      state.variants.delete(sum.variant);
      continue;
    }
    const known = state.variants.get(sum.variant);
    if (known) {
      if (sum.variant !== state.variant && sum.last_event && sum.last_seq > (known.last_seq ?? 0) && state.started) {
        alerts.onEvent(sum.variant, { ...sum.last_event, seq: sum.last_seq });
      }
      Object.assign(known, sum);
    } else {
      state.variants.set(sum.variant, { ...sum, snapshots: new Map() });
      added = true;
    }
  }
  if (all) for (const name of [...state.variants.keys()]) if (!seen.has(name)) state.variants.delete(name);
  const order = [...state.variants.keys()].sort();
  if (added || all || order.length !== state.order.length) {
    state.order = order;
    sidebar.render(variantsList(), state.variant);
  } else {
    for (const sum of summaries) if (state.variants.has(sum?.variant)) sidebar.update(state.variants.get(sum.variant), state.variant);
  }
  if (state.variant && !state.variants.has(state.variant) && !$("view").hidden) showUnknown();
  else if ($("view").hidden && state.started && state.order.length) openFirstView();
}

/** With the overview, only the selected variant is subscribed: drop the others. */
function subscribeSelectedOnly() {
  if (!state.overview || !state.variant) return;
  for (const name of [...state.subs.keys()]) {
    if (name === state.variant) continue;
    state.subs.delete(name);
    state.variants.get(name)?.snapshots.clear();
    client.unsubscribe(name).catch((err) => console.warn(`unsubscribe ${name}:`, err));
  }
  if (!state.subs.has(state.variant)) subscribe(state.variant);
}

/** Until a variant is shown: the one in the URL, else the first one, else say why not. */
function openFirstView() {
  const name = state.variant ?? state.order[0];
  if (name && state.variants.has(name)) select({ variant: name });
  else if (name) { if (!state.unknownShown) select({ variant: name }); }
  else message("No variants yet: the database has no snapshots or events. Start a strategy writer, or run `signalgate serve --demo`.");
}

function subscribe(name) {
  const p = client.subscribe(name, {
    onSnapshot: (s) => onSnapshot(name, s),
    onEvent: (e) => onEvent(name, e),
    onAck: () => {
      conn.ack(name);
      if (state.reloadFeed === name) {
        state.reloadFeed = null;
        loadFeed(name);
      }
    },
    onReset: () => onReset(name),
    onError: (err) => { console.warn(`resubscribe ${name}:`, err); conn.ack(name); },
  });
  p.catch((err) => console.warn(`subscribe ${name}:`, err));
  state.subs.set(name, p);
}

function onSnapshot(name, snap) {
  let v = state.variants.get(name);
  if (!v && state.overview && name === state.variant) {
    // Subscribed before the overview listed it: the next overview update brings its summary.
    v = { variant: name, instances: 1, updated_at: snap.updated_at, snapshots: new Map() };
    state.variants.set(name, v);
  }
  if (!v) return;
  v.snapshots.set(snap.instance_id, snap);
  sidebar.update(v, state.variant);
  if (name !== state.variant) return;
  renderVariant();
  // A gateway without live bars: a new snapshot usually means a new bar.
  if (barFeed.supported === false) chart.refreshTail();
}

/** The variant's history in the database was replaced: drop what is shown and read it again. */
function onReset(name) {
  const v = state.variants.get(name);
  if (!v) return;
  v.snapshots.clear();
  sidebar.update(v, state.variant);
  if (name !== state.variant) return;
  view.reset();
  feed.reset(name);
  renderVariant();
  state.reloadFeed = name; // after the helper's fresh subscribe is acked
  if (chart.key) chart.load(chart.key);
}

function onEvent(name, ev) {
  if (name !== state.variant) return;
  if (state.started) alerts.onEvent(name, ev);
  conn.event(name);
  feed.add([ev], { fresh: true });
  chart.addEvent(ev);
}

/** Instruments of the selected variant, from its snapshots. */
function instruments() {
  const v = state.variants.get(state.variant);
  const set = new Set();
  for (const s of v?.snapshots.values() ?? []) for (const i of instrumentsOf(s.payload)) set.add(i.vt_symbol);
  return [...set].sort();
}

function renderVariant() {
  const v = state.variants.get(state.variant);
  const snaps = [...(v?.snapshots.values() ?? [])].sort((a, b) => a.instance_id.localeCompare(b.instance_id));
  const st = v ? staleness(v) : {};
  const cols = columns();
  view.render(snaps, cols, st.afterMs);
  picker.update(cols, availableFields(snaps));
  if (v) alerts.showSettings(v.variant, st.barInterval, st.barWindow);
  const symbols = instruments();
  if (state.instrument && !symbols.includes(state.instrument)) symbols.unshift(state.instrument);
  const sel = $("instrument");
  if (sel.options.length !== symbols.length || [...sel.options].some((o, i) => o.value !== symbols[i])) {
    sel.replaceChildren(...symbols.map((s) => el("option", { value: s }, s)));
    feed.setSymbols(symbols);
  }
  if (!state.instrument && symbols.length) {
    select({ instrument: symbols[0] });
    return;
  }
  sel.value = state.instrument ?? "";
}

/** Applies a change of selection; `push` adds a history entry (a new variant). */
async function select(change, push = false) {
  const before = { ...state };
  Object.assign(state, change);
  if (!state.variants.has(state.variant)) {
    showUnknown();
    writeUrl(push);
    return;
  }
  message(null);
  state.unknownShown = false;
  subscribeSelectedOnly();
  $("view").hidden = false;
  $("interval").value = state.interval;
  $("span").value = state.span;
  document.title = `${state.variant} · signalgate`;
  $("title").textContent = state.variant;
  const variantChanged = before.variant !== state.variant || !feed.variant;
  if (!variantChanged && JSON.stringify(before.cols) !== JSON.stringify(state.cols)) renderVariant();
  if (variantChanged) {
    state.instrument ??= instruments()[0] ?? null;
    view.reset();
    feed.reset(state.variant);
    conn.countFor(state.variant);
    sidebar.render(variantsList(), state.variant);
    renderVariant();
    loadFeed(state.variant);
  }
  writeUrl(push);
  if (!state.instrument) {
    $("chart-note").textContent = "No instrument in this variant's snapshots yet.";
    return;
  }
  const chartChanged = variantChanged || ["instrument", "interval", "span"].some((k) => before[k] !== state[k]);
  if (chartChanged || !chart.key) {
    $("instrument").value = state.instrument;
    await chart.load({ variant: state.variant, vtSymbol: state.instrument, interval: state.interval, span: state.span });
    // After the REST read: the ack's latest bar then covers anything written meanwhile.
    if (chart.key?.vtSymbol === state.instrument) barFeed.follow(state.instrument, state.interval);
  }
}

async function showUnknown() {
  state.unknownShown = true;
  $("view").hidden = true;
  $("title").textContent = "";
  const known = state.order;
  const links = () => known.flatMap((n, i) => [i ? ", " : "", el("a", { href: `?variant=${encodeURIComponent(n)}` }, n)]);
  sidebar.render(variantsList(), null);
  // With a token, /api/variants lists only the granted variants: ask whether this one exists.
  const name = state.variant;
  const denied = auth.token() && (await api.snapshots(name).then(() => null, (err) => (err.status === 403 ? err : null)));
  if (state.variant !== name || !$("view").hidden || signin.active) return;
  if (denied) {
    document.title = "No access · signalgate";
    message([
      el("strong", {}, `No access to variant “${name}”.`),
      ` The gateway said: ${denied.message}. Ask for a token that grants it, or sign out to enter another one. `,
      known.length ? el("span", {}, "Your variants: ", ...links(), ".") : "Your token grants no variant that has data yet.",
    ]);
    return;
  }
  document.title = "Unknown variant · signalgate";
  message([
    el("strong", {}, `Unknown variant “${state.variant}”.`),
    " The gateway has no snapshot or event for it. ",
    known.length ? el("span", {}, "Known variants: ", ...links(), ".") : "It has no variants at all yet.",
  ]);
}

/** Reads the latest events of `name` over REST; live ones arrive meanwhile and merge by seq. */
async function loadFeed(name) {
  try {
    await state.subs.get(name);
  } catch {
    return;
  }
  const upto = client.lastSeq(name) ?? 0;
  let after = Math.max(0, upto - FEED_HISTORY);
  while (after < upto && state.variant === name) {
    let page;
    try {
      page = await api.events(name, { after_seq: after, limit: 1000 });
    } catch (err) {
      console.warn("feed history:", err);
      return;
    }
    if (state.variant !== name) return;
    feed.add(page.events);
    if (page.events.length === 0) break;
    after = page.next_after_seq;
  }
  feed.render();
}

/** A feed row was clicked: show its instrument and scroll the chart to its bar. */
async function pickEvent(ev) {
  if (ev.vt_symbol !== state.instrument) await select({ instrument: ev.vt_symbol });
  await chart.focus(ev.bar_dt ?? ev.created_at);
}

/**
 * The gateway wants a (new) token: forget the stored one, stop the socket and show the token
 * entry with the gateway's `reason`. Once a token is accepted, a page that was already showing
 * the dashboard reloads (every view starts again with the new token's grants); before that,
 * the socket connects and main() goes on.
 */
function needToken(reason) {
  if (signin.active) {
    signin.show(reason); // keeps the form, updates the reason
    return;
  }
  auth.clearToken();
  // Before socket.io-client handles the server's disconnect: no reconnect without a token.
  client.socket.disconnect();
  conn.signedOut();
  $("signout").hidden = true;
  $("view").hidden = true;
  message(null);
  $("title").textContent = "";
  document.title = "Access token · signalgate";
  $("variants").replaceChildren(el("li", { class: "muted" }, "Enter a token to see the variants."));
  state.tokenEntered = signin.show(reason).then(() => {
    if (state.started) {
      location.reload();
      return new Promise(() => {}); // the page is going away
    }
    $("signout").hidden = false;
    conn.connecting();
    client.socket.connect();
  });
}

/** Sign out: forget the token and start again (the token entry comes back). */
function signOut() {
  auth.clearToken();
  location.reload();
}

async function main() {
  Object.assign(state, readUrl());
  conn.attach(client.socket, () => [...state.subs.keys()]);
  api.onUnauthorized((err) => needToken(err.message));
  client.socket.on("connect_error", (err) => {
    if (auth.refusal(err?.message)) needToken(err.message);
  });
  client.socket.on("auth_expired", (e) => needToken(e?.message ?? "token expired"));
  $("signout").hidden = !auth.token();
  $("signout").addEventListener("click", signOut);
  client.socket.on("connect", () => { if (state.overview) followOverview(); });
  client.socket.on("overview_update", (m) => { if (state.overview) applyOverview(m?.variants ?? []); });
  for (;;) {
    if (state.overview !== false) {
      const got = await loadOverview();
      if (got === null) state.overview = false; // an older gateway: one subscription per variant
      else if (got) break;
    }
    if (state.overview === false && (await refreshVariants())) break;
    await (signin.active ? state.tokenEntered : new Promise((r) => setTimeout(r, 3000)));
  }
  state.started = true;
  settings.loadConfig(() => api.config());
  if (!state.overview) setInterval(refreshVariants, VARIANTS_REFRESH_MS);
  setInterval(tick, 1000);
  tick();
  $("instrument").addEventListener("change", (e) => select({ instrument: e.target.value }));
  $("interval").addEventListener("change", (e) => select({ interval: e.target.value }));
  $("span").addEventListener("change", (e) => select({ span: e.target.value }));
  addEventListener("popstate", () => select(readUrl()));
}

/** Every second: ages, stale marks and the stale alarm. */
function tick() {
  view.tick();
  sidebar.tick();
  const now = Date.now();
  const stale = new Map();
  for (const v of state.variants.values()) {
    const st = staleness(v, now);
    if (st.stale) stale.set(v.variant, st.afterMs);
  }
  alerts.checkStale(stale);
}

main().catch((err) => message(`The dashboard failed to start: ${err.message}`));
