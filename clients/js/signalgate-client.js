/**
 * signalgate-client.js: a helper around the official socket.io client for signalgate's
 * real-time protocol. It resumes by sequence number, so a page sees each event exactly
 * once and in ascending `seq`, across reconnects and replay gaps.
 *
 *   const client = new SignalgateClient("http://127.0.0.1:8080");
 *   await client.subscribe("demo", { onSnapshot: draw, onEvent: append });
 *
 * A page without a bundler loads socket.io's script tag and passes its global,
 * `{ io: window.io }`; with neither `options.io` nor a global `io` the module
 * loads `socket.io-client` with `import()`.
 *
 * socket.io-client reconnects by itself after a lost connection, but not after the server
 * ends the session ("io server disconnect", e.g. a slow client is dropped) nor after the
 * server refuses a manual reconnect; the helper then calls `socket.connect()` itself after
 * a backoff, until it connects again or `close()` is called. When the server announces its
 * shutdown (`server_shutdown {reconnect: true}`), the helper reconnects at once and resumes
 * every variant from its last seq (`options.onShutdown(msg)` is told first).
 *
 * @typedef {{variant:string, instance_id:string, version:number, updated_at:string,
 *   bar_dt:?string, bar_interval:?string, bar_window:?number, payload:any}} Snapshot
 * @typedef {{id:number, seq:number, variant:string, instance_id:string, vt_symbol:string,
 *   bar_dt:?string, event_type:string, event_key:string, created_at:string, payload:any}} Event
 * @typedef {{ok:true, variant:string, snapshots:Snapshot[], events:Event[], seq:number,
 *   truncated:boolean} | {ok:false, error:{code:string, message:string}}} Ack
 * @typedef {object} SubscribeOptions
 * @property {string} [instanceId] only this strategy instance
 * @property {string[]} [vtSymbols] only events of these symbols
 * @property {number} [sinceSeq] resume after this seq (events with seq > sinceSeq are replayed)
 * @property {boolean} [batch] ask for `event_batch` packets (unpacked into `onEvent` calls, in order)
 * @property {boolean} [deltas] ask for `snapshot_delta` merge patches; the helper applies them to
 *   the snapshot it holds and calls `onSnapshot` with the full result (treat snapshots as
 *   immutable: unchanged parts are shared with the previous one); a delta whose base is not the
 *   held version makes it resubscribe (the ack carries full snapshots)
 * @property {(s: Snapshot) => void} [onSnapshot] a snapshot newer than the last one seen per instance
 * @property {(e: Event) => void} [onEvent] each event once, ascending seq
 * @property {(a: Ack) => void} [onAck] after each successful (re)subscribe has been applied
 * @property {(err: Error) => void} [onError] a failed resubscribe or gap fill
 * @property {(gap: {variant:string, fromSeq:?number, toSeq:number}) => void} [onTruncated]
 *   the server's replay was cut short; the client pages the gap over REST. A failed gap fill
 *   (`onError` with code `gap_fill_failed`) never moves the position past the gap: nothing
 *   after the gap is delivered, and the helper resubscribes from the last delivered seq after
 *   the reconnect backoff, until the gap is filled (a first `subscribe()` resolves then)
 * @property {(r: {variant:string, epoch:string}) => void} [onReset] the variant's history
 *   in the database was replaced (recreated or restored): drop everything shown for it; the
 *   helper has already forgotten its position and resubscribed from scratch
 */

const PAGE_LIMIT = 5000;
const RECONNECT_DELAY_MS = 500; // first delay of the helper's own reconnect, doubled per failure
const RECONNECT_MAX_DELAY_MS = 10000;

/** RFC 7386: `patch` applied to `target`, copying only the objects on patched paths. */
function mergePatch(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const isObj = target !== null && typeof target === "object" && !Array.isArray(target);
  const out = isObj ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Calls a user callback; an exception is rethrown asynchronously so it cannot corrupt state. */
function call(fn, arg) {
  try {
    if (typeof fn === "function") fn(arg);
  } catch (err) {
    queueMicrotask(() => { throw err; });
  }
}

/** Turns a protocol error `{code, message}` into an `Error` with a `code`. */
const toError = (e, fallback = "request failed") =>
  Object.assign(new Error(e?.message ?? fallback), { code: e?.code ?? "error" });

const bySeq = (list) => [...(list ?? [])].sort((a, b) => a.seq - b.seq);

export class SignalgateClient {
  /**
   * @param {string} url server base URL (socket.io endpoint and REST API)
   * @param {{io?: Function, socketOptions?: object, fetch?: Function, restUrl?: string,
   *   ackTimeoutMs?: number, reconnectDelayMs?: number, reconnectMaxDelayMs?: number,
 *   onShutdown?: (msg: {reconnect: boolean, reason: string}) => void}} [options]
   *   `io`: socket.io's `io` function; `fetch`: for the REST gap fill (default
   *   `globalThis.fetch`; it gets `Authorization: Bearer <token>` when the socket's
   *   `auth` option, an object or a function as in socket.io, carries a `token`, so REST uses
   *   the same token as the handshake); `restUrl`: REST base if it differs from `url`;
   *   `reconnectDelayMs` (500) doubling up to `reconnectMaxDelayMs` (10000): the backoff of the
   *   helper's own reconnect after a server-side disconnect, reset by each successful connect.
   */
  constructor(url, options = {}) {
    Object.assign(this, { url, options, socket: null, _closed: false });
    this._retries = 0; // own reconnect attempts since the last successful connect
    this._retryTimer = null;
    this._rest = String(options.restUrl ?? url).replace(/\/+$/, "");
    this._subs = new Map(); // variant -> subscription state
    this._seqs = new Map(); // variant -> last seq seen (kept after unsubscribe)
    const io = options.io ?? globalThis.io;
    this._ready = io
      ? Promise.resolve(this._attach(io))
      : import("socket.io-client").then((m) => this._attach(m.io));
    this._ready.catch(() => {}); // reported by subscribe()/unsubscribe()
  }

  /** Creates the socket and wires the protocol handlers. */
  _attach(io) {
    const socket = (this.socket = io(this.url, this.options.socketOptions ?? {}));
    if (this._closed) socket.disconnect();
    // Every (re)connect: (re)subscribe every variant from its last seq.
    socket.on("connect", () => {
      this._retries = 0;
      for (const sub of this._subs.values()) this._send(sub);
    });
    // socket.io-client leaves these two to the application (see the module comment).
    socket.on("disconnect", (reason) => {
      if (reason === "io server disconnect") this._reconnectLater();
    });
    socket.on("connect_error", () => {
      if (this._retries > 0 && !socket.active) this._reconnectLater();
    });
    socket.on("event_new", (ev) => {
      const sub = this._subs.get(ev?.variant);
      if (!sub) return;
      if (sub.syncing) sub.buffer.push(ev);
      else this._event(sub, ev);
    });
    socket.on("event_batch", (batch) => {
      const sub = this._subs.get(batch?.variant);
      if (!sub) return;
      for (const ev of batch.events ?? []) {
        if (sub.syncing) sub.buffer.push(ev);
        else this._event(sub, ev);
      }
    });
    socket.on("snapshot_update", (snap) => {
      const sub = this._subs.get(snap?.variant);
      if (sub) this._snapshot(sub, snap);
    });
    socket.on("snapshot_delta", (delta) => {
      const sub = this._subs.get(delta?.variant);
      if (sub) this._delta(sub, delta);
    });
    // The server is shutting down: reconnect now (behind a load balancer, to another
    // instance) instead of after socket.io's back-off once the transport has closed.
    socket.on("server_shutdown", (msg) => {
      call(this.options.onShutdown, msg);
      if (this._closed || msg?.reconnect === false) return;
      this._retries = 0;
      socket.disconnect();
      socket.connect();
    });
    socket.on("stream_reset", (r) => {
      const sub = this._subs.get(r?.variant);
      if (!sub) return;
      this._reset(sub, r.epoch);
      this._send(sub); // from scratch: no since_seq
    });
    return socket;
  }

  /** Calls `socket.connect()` after the current backoff, unless closed or already pending. */
  _reconnectLater() {
    if (this._closed || this._retryTimer) return;
    const base = this.options.reconnectDelayMs ?? RECONNECT_DELAY_MS;
    const max = this.options.reconnectMaxDelayMs ?? RECONNECT_MAX_DELAY_MS;
    const ms = Math.min(base * 2 ** Math.min(this._retries++, 30), max);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._closed && !this.socket.connected) this.socket.connect();
    }, ms);
  }

  /**
   * Subscribes to a variant. Live events that arrive before the ack are buffered
   * and delivered after the ack's events. Rejects if the server refuses.
   * @param {string} variant
   * @param {SubscribeOptions} [opts]
   * @returns {Promise<Ack>} the first successful ack
   */
  subscribe(variant, opts = {}) {
    return this._ready.then((socket) => {
      if (this._closed) throw new Error("client is closed");
      if (this._subs.has(variant)) throw new Error(`already subscribed to ${variant}`);
      // versions: instance_id -> last snapshot version delivered; buffer: live events while syncing
      const sub = { variant, opts, lastSeq: opts.sinceSeq, attempt: 0, syncing: true, buffer: [] };
      sub.versions = new Map();
      sub.held = new Map(); // instance_id -> last snapshot delivered (with `deltas`)
      const first = new Promise((resolve, reject) => (sub.first = { resolve, reject }));
      this._subs.set(variant, sub);
      if (socket.connected) this._send(sub); // otherwise the "connect" handler sends it
      return first;
    });
  }

  /** Emits `subscribe` for `sub`; a newer attempt makes older acks stale. */
  _send(sub) {
    clearTimeout(sub.retryTimer);
    sub.retryTimer = null;
    const attempt = ++sub.attempt;
    Object.assign(sub, { syncing: true, buffer: [] });
    const req = { variant: sub.variant };
    if (sub.opts.instanceId != null) req.instance_id = sub.opts.instanceId;
    if (sub.opts.vtSymbols?.length) req.vt_symbols = [...sub.opts.vtSymbols];
    if (sub.opts.batch) req.batch = true;
    if (sub.opts.deltas) req.deltas = true;
    if (sub.lastSeq !== undefined) {
      req.since_seq = sub.lastSeq;
      if (sub.epoch !== undefined) req.epoch = sub.epoch;
    }
    this.socket.emit("subscribe", req, (ack) => {
      this._applyAck(sub, attempt, req.since_seq, ack).catch((err) => this._fail(sub, err));
    });
  }

  /** True once `sub` was unsubscribed or re-sent after this attempt. */
  _stale(sub, attempt) {
    return this._subs.get(sub.variant) !== sub || attempt !== sub.attempt;
  }

  /** A failed first subscribe rejects and forgets `sub`; a failed resubscribe calls onError. */
  _fail(sub, err) {
    if (!sub.first) return call(sub.opts.onError, err);
    sub.first.reject(err);
    sub.first = null;
    if (this._subs.get(sub.variant) === sub) this._subs.delete(sub.variant);
  }

  /** Applies an ack: snapshots, [REST gap], ack events, then buffered live events. */
  async _applyAck(sub, attempt, sinceSeq, ack) {
    if (this._stale(sub, attempt)) return;
    if (!ack?.ok) {
      Object.assign(sub, { syncing: false, buffer: [] });
      return this._fail(sub, toError(ack?.error, "subscribe refused"));
    }
    if (ack.reset) this._reset(sub, ack.epoch); // our position belonged to another history
    if (typeof ack.epoch === "string") sub.epoch = ack.epoch;
    for (const snap of ack.snapshots ?? []) this._snapshot(sub, snap);
    if (ack.truncated && !ack.reset) {
      call(sub.opts.onTruncated, { variant: sub.variant, fromSeq: sinceSeq, toSeq: ack.seq });
      if (sinceSeq !== undefined) {
        const filled = await this._fillGap(sub, attempt, sinceSeq, ack.seq).then(
          () => true,
          (err) => (call(sub.opts.onError, err), false),
        );
        if (this._stale(sub, attempt)) return;
        // Neither the ack's events nor the ack's seq may be applied past an unfilled gap:
        // stay syncing (live events are buffered, then dropped by the resubscribe) and
        // resubscribe from the last delivered seq.
        if (!filled) return this._resubscribeLater(sub, attempt);
      }
    }
    sub.gapRetries = 0;
    for (const ev of bySeq(ack.events)) this._event(sub, ev);
    this._advance(sub, ack.seq); // live events at or below ack.seq were in the ack
    const buffered = bySeq(sub.buffer);
    Object.assign(sub, { syncing: false, buffer: [] });
    for (const ev of buffered) this._event(sub, ev);
    call(sub.opts.onAck, ack);
    sub.first?.resolve(ack);
    sub.first = null;
  }

  /** Sends `sub` again after the backoff (unless it went stale, e.g. by a reconnect, meanwhile). */
  _resubscribeLater(sub, attempt) {
    const base = this.options.reconnectDelayMs ?? RECONNECT_DELAY_MS;
    const max = this.options.reconnectMaxDelayMs ?? RECONNECT_MAX_DELAY_MS;
    sub.gapRetries = (sub.gapRetries ?? 0) + 1;
    const ms = Math.min(base * 2 ** Math.min(sub.gapRetries - 1, 30), max);
    clearTimeout(sub.retryTimer);
    sub.retryTimer = setTimeout(() => {
      sub.retryTimer = null;
      // While disconnected the "connect" handler resubscribes instead.
      if (!this._closed && !this._stale(sub, attempt) && this.socket?.connected) this._send(sub);
    }, ms);
  }

  /** The `Authorization` header for REST: the `token` of the socket's `auth` (object or function). */
  async _authHeaders() {
    const auth = this.socket?.auth;
    const payload = typeof auth === "function" ? await new Promise((resolve) => auth(resolve)) : auth;
    const token = payload?.token;
    return typeof token === "string" && token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** Pages `GET {url}/api/events/{variant}?after_seq=N` from `fromSeq` until `toSeq` or an empty page. */
  async _fillGap(sub, attempt, fromSeq, toSeq) {
    const fetchFn = this.options.fetch ?? globalThis.fetch;
    let after = fromSeq;
    while (after < toSeq) {
      const path = `/api/events/${encodeURIComponent(sub.variant)}`;
      const url = `${this._rest}${path}?after_seq=${after}&limit=${PAGE_LIMIT}`;
      const res = await fetchFn(url, { headers: { Accept: "application/json", ...(await this._authHeaders()) } });
      if (!res.ok) throw toError({ code: "gap_fill_failed", message: `GET ${url}: HTTP ${res.status}` });
      const page = await res.json();
      const events = bySeq(page.events);
      if (this._stale(sub, attempt) || events.length === 0) return;
      for (const ev of events) this._event(sub, ev); // filtered client-side in _event
      const next = typeof page.next_after_seq === "number" ? page.next_after_seq : events.at(-1).seq;
      if (!(next > after)) break;
      after = next;
    }
  }

  /** Forgets the position and snapshot versions of `sub` (a new epoch) and tells the page. */
  _reset(sub, epoch) {
    sub.lastSeq = undefined;
    sub.epoch = epoch;
    sub.versions = new Map();
    sub.held = new Map();
    this._seqs.delete(sub.variant);
    call(sub.opts.onReset, { variant: sub.variant, epoch });
  }

  /** Moves lastSeq forward (never back). */
  _advance(sub, seq) {
    if (typeof seq === "number" && !(seq <= sub.lastSeq)) this._seqs.set(sub.variant, (sub.lastSeq = seq));
  }

  /** Delivers one event unless already seen (seq <= lastSeq) or filtered out. */
  _event(sub, ev) {
    if (typeof ev?.seq !== "number" || ev.seq <= sub.lastSeq) return; // (x <= undefined) is false
    this._advance(sub, ev.seq);
    const { instanceId, vtSymbols } = sub.opts;
    if (instanceId != null && ev.instance_id !== instanceId) return;
    if (vtSymbols?.length && !vtSymbols.includes(ev.vt_symbol)) return;
    call(sub.opts.onEvent, ev);
  }

  /** Delivers a snapshot unless an equal or newer version of that instance was delivered. */
  _snapshot(sub, snap) {
    if (!snap || (sub.opts.instanceId != null && snap.instance_id !== sub.opts.instanceId)) return;
    if (typeof snap.version === "number") {
      if (snap.version <= sub.versions.get(snap.instance_id)) return;
      sub.versions.set(snap.instance_id, snap.version);
    }
    if (sub.opts.deltas) sub.held.set(snap.instance_id, snap);
    call(sub.opts.onSnapshot, snap);
  }

  /** Applies a `snapshot_delta` to the held snapshot; resubscribes if the base is not held. */
  _delta(sub, delta) {
    if (sub.opts.instanceId != null && delta.instance_id !== sub.opts.instanceId) return;
    const base = sub.held.get(delta.instance_id);
    if (base?.version !== delta.base_version) {
      if (!sub.syncing) this._send(sub); // the ack brings full snapshots
      return;
    }
    this._snapshot(sub, mergePatch(base, delta.patch));
  }

  /**
   * Stops delivering `variant` and tells the server.
   * @param {string} variant
   * @returns {Promise<{ok:true}>}
   */
  async unsubscribe(variant) {
    const sub = this._subs.get(variant);
    if (!sub) return { ok: true };
    this._subs.delete(variant);
    clearTimeout(sub.retryTimer);
    sub.first?.reject(new Error(`unsubscribed from ${variant}`));
    sub.first = null;
    const socket = await this._ready;
    if (!socket.connected) return { ok: true }; // the server forgets subscriptions on disconnect
    const ms = this.options.ackTimeoutMs ?? 10000;
    let timer;
    const ack = await new Promise((resolve, reject) => {
      const err = toError({ code: "timeout", message: `no unsubscribe ack in ${ms} ms` });
      timer = setTimeout(() => reject(err), ms);
      socket.emit("unsubscribe", { variant }, resolve);
    }).finally(() => clearTimeout(timer));
    if (!ack?.ok) throw toError(ack?.error, "unsubscribe refused");
    return ack;
  }

  /**
   * The last seq seen for `variant` (delivered, skipped by a filter, or an ack's `seq`).
   * @param {string} variant
   * @returns {number|undefined}
   */
  lastSeq(variant) {
    return this._subs.get(variant)?.lastSeq ?? this._seqs.get(variant);
  }

  /** Disconnects and drops every subscription; pending subscribe() promises reject. */
  close() {
    this._closed = true;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    for (const sub of this._subs.values()) {
      clearTimeout(sub.retryTimer);
      sub.first?.reject(new Error("client closed"));
    }
    this._subs.clear();
    this.socket?.disconnect();
  }
}

export default SignalgateClient;
