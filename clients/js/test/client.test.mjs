// Unit tests of SignalgateClient's resume logic (dedupe, ordering, buffering,
// resubscribe, REST gap fill) against a fake socket. End-to-end tests against a
// real server live with the Rust tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { SignalgateClient } from "../signalgate-client.js";

/** A socket.io-like socket: `emit` records what the client sends, `push` plays the server. */
class FakeSocket extends EventEmitter {
  constructor() {
    super();
    this.connected = false;
    this.active = false; // like socket.io's after a server disconnect: no automatic retry
    this.connects = 0; // connect() calls
    this.refuse = false; // connect() fails with connect_error
    this.sent = []; // [{event, data, ack}]
    this.waiters = [];
  }
  emit(event, data, ack) {
    this.sent.push({ event, data, ack });
    this.waiters = this.waiters.filter((w) => !w());
    return true;
  }
  push(event, data) {
    super.emit(event, data);
  }
  connect() {
    this.connects++;
    if (this.refuse) return this.push("connect_error", new Error("refused"));
    this.connected = true;
    this.push("connect");
  }
  drop() {
    this.connected = false;
    this.push("disconnect", "transport close");
  }
  /** The server ends the session (namespace disconnect, e.g. a slow client). */
  kick() {
    this.connected = false;
    this.push("disconnect", "io server disconnect");
  }
  disconnect() {
    this.connected = false;
  }
  /** Resolves with the n-th (1-based) emit of `event`, now or when it is sent. */
  nth(event, n) {
    return new Promise((resolve) => {
      const check = () => {
        const found = this.sent.filter((s) => s.event === event)[n - 1];
        if (found) resolve(found);
        return Boolean(found);
      };
      if (!check()) this.waiters.push(check);
    });
  }
}

function setup(extra = {}) {
  const socket = new FakeSocket();
  const calls = [];
  const io = (url, opts) => {
    calls.push({ url, opts });
    return socket;
  };
  const client = new SignalgateClient("http://gw.test/", { io, socketOptions: { a: 1 }, ...extra });
  return { client, socket, calls };
}

const ev = (seq, extra = {}) => ({
  id: seq * 10, seq, variant: "v1", instance_id: "i1", vt_symbol: "rb2405.SHFE",
  bar_dt: null, event_type: "signal", event_key: `k${seq}`, created_at: "2024-05-01T00:00:00Z",
  payload: {}, ...extra,
});
const okAck = (seq, events = [], extra = {}) => ({
  ok: true, variant: "v1", snapshots: [], events, seq, truncated: false, ...extra,
});
/** A promise with its resolve function exposed. */
function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}
/** Mocks setTimeout for test `t` (the enable() signature changed in Node 20.11). */
function fakeTimeouts(t) {
  try {
    t.mock.timers.enable({ apis: ["setTimeout"] });
  } catch {
    t.mock.timers.enable(["setTimeout"]);
  }
}
/** Waits until `cond()` is true, failing after `ms` (no fixed sleeps). */
async function until(cond, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met before deadline");
    await new Promise((r) => setImmediate(r));
  }
}

test("subscribes on connect, buffers early live events, delivers each seq once in order", async () => {
  const { client, socket, calls } = setup();
  assert.deepEqual(calls, [{ url: "http://gw.test/", opts: { a: 1 } }]);
  const seen = [];
  const acks = [];
  const done = client.subscribe("v1", { sinceSeq: 0, onEvent: (e) => seen.push(e.seq), onAck: (a) => acks.push(a) });
  await until(() => client.lastSeq("v1") === 0); // registered, not yet sent: socket not connected
  assert.equal(socket.sent.length, 0);
  socket.connect();
  const sub = await socket.nth("subscribe", 1);
  assert.deepEqual(sub.data, { variant: "v1", since_seq: 0 });
  // Live events racing the ack, out of order and overlapping it.
  for (const s of [5, 3, 4, 2]) socket.push("event_new", ev(s));
  socket.push("event_new", { ...ev(9), variant: "other" }); // not subscribed: ignored
  assert.deepEqual(seen, []);
  sub.ack(okAck(3, [ev(1), ev(2), ev(3)]));
  const ack = await done;
  assert.equal(ack.seq, 3);
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  socket.push("event_new", ev(5)); // duplicate
  socket.push("event_new", ev(4)); // older
  socket.push("event_new", ev(6));
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  assert.equal(client.lastSeq("v1"), 6);
  assert.equal(acks.length, 1);
});

test("resubscribes from lastSeq after a reconnect and ignores a stale ack", async () => {
  const { client, socket } = setup();
  socket.connect();
  const seen = [];
  const reacked = deferred();
  let ackCount = 0;
  const done = client.subscribe("v1", {
    instanceId: "i1", vtSymbols: ["rb2405.SHFE"],
    onEvent: (e) => seen.push(e.seq),
    onAck: () => ++ackCount === 2 && reacked.resolve(),
  });
  const first = await socket.nth("subscribe", 1);
  assert.deepEqual(first.data, { variant: "v1", instance_id: "i1", vt_symbols: ["rb2405.SHFE"] });
  first.ack(okAck(10, [ev(9), ev(10)]));
  await done;
  socket.push("event_new", ev(11));
  assert.deepEqual(seen, [9, 10, 11]);

  socket.drop();
  socket.connect();
  const second = await socket.nth("subscribe", 2);
  assert.deepEqual(second.data, { variant: "v1", instance_id: "i1", vt_symbols: ["rb2405.SHFE"], since_seq: 11 });
  socket.push("event_new", ev(14)); // live before the ack: buffered
  socket.drop();
  socket.connect(); // a second reconnect makes the second attempt stale
  const third = await socket.nth("subscribe", 3);
  assert.equal(third.data.since_seq, 11);
  second.ack(okAck(99, [ev(50)])); // stale: ignored
  socket.push("event_new", ev(13));
  third.ack(okAck(12, [ev(11), ev(12)]));
  await reacked.promise;
  assert.deepEqual(seen, [9, 10, 11, 12, 13]);
  assert.equal(client.lastSeq("v1"), 13);
});

test("filters by instance and symbol but still advances lastSeq", async () => {
  const { client, socket } = setup();
  socket.connect();
  const seen = [];
  const done = client.subscribe("v1", { instanceId: "i1", vtSymbols: ["rb2405.SHFE"], onEvent: (e) => seen.push(e.seq) });
  (await socket.nth("subscribe", 1)).ack(okAck(2, [ev(1), ev(2, { vt_symbol: "hc2405.SHFE" })]));
  await done;
  socket.push("event_new", ev(3, { instance_id: "i2" }));
  socket.push("event_new", ev(4));
  assert.deepEqual(seen, [1, 4]);
  assert.equal(client.lastSeq("v1"), 4);
});

test("truncated ack: pages the gap over REST before buffered live events", async () => {
  const pages = {
    10: { events: [ev(11), ev(12), ev(13, { vt_symbol: "hc2405.SHFE" })], next_after_seq: 13 },
    13: { events: [ev(14), ev(15)], next_after_seq: 15 },
    15: { events: [ev(16)], next_after_seq: 16 },
  };
  const urls = [];
  const firstFetch = deferred();
  const release = deferred();
  const fetch = async (url) => {
    urls.push(url);
    firstFetch.resolve();
    await release.promise;
    const after = Number(new URL(url).searchParams.get("after_seq"));
    return { ok: true, status: 200, json: async () => pages[after] ?? { events: [], next_after_seq: after } };
  };
  const { client, socket } = setup({ fetch });
  socket.connect();
  const seen = [];
  const truncations = [];
  const done = client.subscribe("v 1", {
    sinceSeq: 10, vtSymbols: ["rb2405.SHFE"],
    onEvent: (e) => seen.push(e.seq), onTruncated: (t) => truncations.push(t),
  });
  const sub = await socket.nth("subscribe", 1);
  const v = (e) => ({ ...e, variant: "v 1" });
  sub.ack(okAck(16, [v(ev(15)), v(ev(16))], { variant: "v 1", truncated: true }));
  await firstFetch.promise;
  socket.push("event_new", v(ev(18))); // live during the gap fill: buffered
  socket.push("event_new", v(ev(17)));
  assert.deepEqual(seen, []);
  release.resolve();
  await done;
  assert.deepEqual(truncations, [{ variant: "v 1", fromSeq: 10, toSeq: 16 }]);
  assert.deepEqual(urls, [
    "http://gw.test/api/events/v%201?after_seq=10&limit=5000",
    "http://gw.test/api/events/v%201?after_seq=13&limit=5000",
    "http://gw.test/api/events/v%201?after_seq=15&limit=5000",
  ]);
  assert.deepEqual(seen, [11, 12, 14, 15, 16, 17, 18]); // 13 filtered out by symbol
  assert.equal(client.lastSeq("v 1"), 18);
});

test("a failed gap fill never moves the position past the gap: it resubscribes from there", async (t) => {
  fakeTimeouts(t);
  let failures = 1;
  const urls = [];
  const fetch = async (url) => {
    urls.push(url);
    if (failures-- > 0) return { ok: false, status: 503, json: async () => ({}) };
    const after = Number(new URL(url).searchParams.get("after_seq"));
    const events = [];
    for (let s = after + 1; s <= 10; s++) events.push(ev(s)); // 10 was written meanwhile
    return { ok: true, status: 200, json: async () => ({ events, next_after_seq: 10 }) };
  };
  const { client, socket } = setup({ fetch, reconnectDelayMs: 100 });
  socket.connect();
  const seen = [];
  const errors = [];
  let resolved = false;
  const done = client.subscribe("v1", { sinceSeq: 1, onEvent: (e) => seen.push(e.seq), onError: (e) => errors.push(e) });
  done.then(() => (resolved = true));
  (await socket.nth("subscribe", 1)).ack(okAck(9, [ev(2), ev(3)], { truncated: true }));
  await until(() => errors.length === 1);
  assert.equal(errors[0].code, "gap_fill_failed");
  socket.push("event_new", ev(10)); // live after the unfilled gap: not delivered
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [], "nothing after an unfilled gap is delivered");
  assert.equal(client.lastSeq("v1"), 1, "the position stays before the gap");
  assert.equal(resolved, false);
  assert.equal(socket.sent.filter((s) => s.event === "subscribe").length, 1, "no resubscribe before the backoff");
  t.mock.timers.tick(100);
  const again = await socket.nth("subscribe", 2);
  assert.deepEqual(again.data, { variant: "v1", since_seq: 1 });
  again.ack(okAck(10, [ev(2), ev(3)], { truncated: true }));
  socket.push("event_new", ev(11));
  await done;
  assert.deepEqual(urls.map((u) => new URL(u).searchParams.get("after_seq")), ["1", "1"]);
  assert.deepEqual(seen, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "each seq once, in order");
  assert.equal(client.lastSeq("v1"), 11);
  assert.equal(errors.length, 1);
});

test("the gap fill sends the socket's token (auth object or function) as a bearer header", async () => {
  for (const auth of [{ token: "t0k" }, (cb) => cb({ token: "t0k" }), {}]) {
    const headers = [];
    const fetch = async (url, init) => {
      headers.push(init?.headers ?? {});
      return { ok: true, status: 200, json: async () => ({ events: [ev(2)], next_after_seq: 2 }) };
    };
    const { client, socket } = setup({ fetch, socketOptions: { auth } });
    socket.auth = auth; // socket.io-client keeps the auth option on the socket
    socket.connect();
    const done = client.subscribe("v1", { sinceSeq: 1 });
    (await socket.nth("subscribe", 1)).ack(okAck(2, [], { truncated: true }));
    await done;
    const expected = typeof auth === "function" || auth.token ? "Bearer t0k" : undefined;
    assert.equal(headers[0].Authorization, expected);
    client.close();
  }
});

test("a refused subscribe rejects with the server's code and can be retried", async () => {
  const { client, socket } = setup();
  socket.connect();
  const refused = client.subscribe("v1");
  (await socket.nth("subscribe", 1)).ack({ ok: false, error: { code: "unknown_variant", message: "no such variant" } });
  await assert.rejects(refused, (err) => err.code === "unknown_variant" && err.message === "no such variant");
  const again = client.subscribe("v1");
  (await socket.nth("subscribe", 2)).ack(okAck(0));
  assert.equal((await again).ok, true);
  await assert.rejects(client.subscribe("v1"), /already subscribed/);
});

test("snapshots: ack and live updates, never an older version", async () => {
  const { client, socket } = setup();
  socket.connect();
  const snaps = [];
  const snap = (instance_id, version) => ({ variant: "v1", instance_id, version, payload: {} });
  const done = client.subscribe("v1", { onSnapshot: (s) => snaps.push(`${s.instance_id}@${s.version}`) });
  const sub = await socket.nth("subscribe", 1);
  socket.push("snapshot_update", snap("i1", 5)); // newer than what the ack will carry
  sub.ack(okAck(0, [], { snapshots: [snap("i1", 4), snap("i2", 1)] }));
  await done;
  socket.push("snapshot_update", snap("i1", 5));
  socket.push("snapshot_update", snap("i2", 2));
  assert.deepEqual(snaps, ["i1@5", "i2@1", "i2@2"]);
});

test("batch and deltas: options sent, event_batch unpacked in order, deltas applied or resubscribed", async () => {
  const { client, socket } = setup();
  socket.connect();
  const seen = [];
  const snaps = [];
  const done = client.subscribe("v1", {
    batch: true, deltas: true, onEvent: (e) => seen.push(e.seq), onSnapshot: (s) => snaps.push(s),
  });
  const sub = await socket.nth("subscribe", 1);
  assert.deepEqual(sub.data, { variant: "v1", batch: true, deltas: true });
  socket.push("event_batch", { variant: "v1", events: [ev(2), ev(3)] }); // races the ack
  const base = { variant: "v1", instance_id: "i1", version: 4, payload: { a: { x: 1, y: 2 }, b: [1] } };
  sub.ack(okAck(1, [ev(1)], { snapshots: [base] }));
  await done;
  socket.push("event_batch", { variant: "v1", events: [ev(3), ev(4), ev(5)] });
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  const patch = { version: 5, payload: { a: { y: null, z: 3 }, b: [null] } };
  socket.push("snapshot_delta", { variant: "v1", instance_id: "i1", version: 5, base_version: 4, patch });
  assert.deepEqual(snaps.at(-1), { variant: "v1", instance_id: "i1", version: 5, payload: { a: { x: 1, z: 3 }, b: [null] } });
  assert.deepEqual(base.payload, { a: { x: 1, y: 2 }, b: [1] }, "the held snapshot is not mutated");
  // A delta against a version the client does not hold: no delivery, a resubscribe instead.
  socket.push("snapshot_delta", { variant: "v1", instance_id: "i1", version: 7, base_version: 6, patch: {} });
  assert.equal(snaps.length, 2);
  const again = await socket.nth("subscribe", 2);
  assert.deepEqual(again.data, { variant: "v1", since_seq: 5, batch: true, deltas: true });
});

test("unsubscribe emits {variant}, resolves with the ack and stops delivery", async () => {
  const { client, socket } = setup();
  socket.connect();
  const seen = [];
  const done = client.subscribe("v1", { onEvent: (e) => seen.push(e.seq) });
  (await socket.nth("subscribe", 1)).ack(okAck(1, [ev(1)]));
  await done;
  const left = client.unsubscribe("v1");
  const unsub = await socket.nth("unsubscribe", 1);
  assert.deepEqual(unsub.data, { variant: "v1" });
  socket.push("event_new", ev(2));
  unsub.ack({ ok: true });
  assert.deepEqual(await left, { ok: true });
  assert.deepEqual(seen, [1]);
  assert.equal(client.lastSeq("v1"), 1); // kept for a later resume
  socket.drop();
  socket.connect();
  assert.equal(socket.sent.filter((s) => s.event === "subscribe").length, 1); // not resubscribed
});

test("close rejects pending subscribes and disconnects", async () => {
  const { client, socket } = setup();
  socket.connect();
  const pending = client.subscribe("v1");
  await socket.nth("subscribe", 1);
  client.close();
  await assert.rejects(pending, /client closed/);
  assert.equal(socket.connected, false);
  await assert.rejects(client.subscribe("v2"), /closed/);
});

test("without options.io it loads the real socket.io-client", async () => {
  const client = new SignalgateClient("http://127.0.0.1:9", { socketOptions: { autoConnect: false } });
  await client._ready;
  assert.equal(typeof client.socket.emit, "function");
  assert.equal(client.socket.connected, false);
  client.close();
});

test("an ack without events still moves lastSeq to ack.seq for the next resume", async () => {
  const { client, socket } = setup();
  socket.connect();
  const done = client.subscribe("v1");
  (await socket.nth("subscribe", 1)).ack(okAck(100));
  await done;
  assert.equal(client.lastSeq("v1"), 100);
  socket.push("event_new", ev(100)); // at ack.seq: already covered by the ack
  socket.drop();
  socket.connect();
  assert.equal((await socket.nth("subscribe", 2)).data.since_seq, 100);
});

test("reconnects by itself after a server-side disconnect, with backoff, and resumes from lastSeq", async (t) => {
  fakeTimeouts(t);
  const { client, socket } = setup({ reconnectDelayMs: 100, reconnectMaxDelayMs: 300 });
  socket.connect();
  const seen = [];
  let acked = deferred();
  const done = client.subscribe("v1", { onEvent: (e) => seen.push(e.seq), onAck: () => acked.resolve() });
  (await socket.nth("subscribe", 1)).ack(okAck(5, [ev(5)]));
  await done;
  socket.push("event_new", ev(6));

  socket.kick(); // socket.io-client would not reconnect by itself now
  t.mock.timers.tick(99);
  assert.equal(socket.connects, 1);
  socket.refuse = true;
  t.mock.timers.tick(1); // 100 ms: first attempt, refused
  assert.equal(socket.connects, 2);
  t.mock.timers.tick(199);
  assert.equal(socket.connects, 2);
  t.mock.timers.tick(1); // +200 ms (doubled): refused again
  assert.equal(socket.connects, 3);
  socket.refuse = false;
  t.mock.timers.tick(299);
  assert.equal(socket.connects, 3);
  t.mock.timers.tick(1); // +300 ms (capped): connects
  assert.equal(socket.connects, 4);
  const second = await socket.nth("subscribe", 2);
  assert.deepEqual(second.data, { variant: "v1", since_seq: 6 });
  acked = deferred();
  second.ack(okAck(7, [ev(6), ev(7)]));
  await acked.promise;
  assert.deepEqual(seen, [5, 6, 7]);

  socket.kick(); // the successful connect reset the backoff
  t.mock.timers.tick(100);
  assert.equal(socket.connects, 5);
  assert.equal((await socket.nth("subscribe", 3)).data.since_seq, 7);

  socket.drop(); // a lost connection is socket.io-client's to retry, not the helper's
  t.mock.timers.tick(20000);
  assert.equal(socket.connects, 5);
  socket.connect();
  socket.kick();
  client.close(); // no reconnect after close()
  t.mock.timers.tick(20000);
  assert.equal(socket.connects, 6);
  assert.equal(socket.connected, false);
});

test("a stream_reset or a reset ack drops the position and resubscribes from scratch", async () => {
  const { client, socket } = setup();
  socket.connect();
  const seen = [];
  const snaps = [];
  const resets = [];
  const done = client.subscribe("v1", {
    onEvent: (e) => seen.push(e.seq),
    onSnapshot: (s) => snaps.push(s.version),
    onReset: (r) => resets.push(r.epoch),
  });
  const first = await socket.nth("subscribe", 1);
  first.ack(okAck(3, [], { epoch: "0", snapshots: [{ variant: "v1", instance_id: "i1", version: 7 }] }));
  await done;
  socket.push("event_new", ev(4));
  // The database was recreated: seq and versions start again.
  socket.push("stream_reset", { variant: "v1", epoch: "e1", seq: 1 });
  assert.deepEqual(resets, ["e1"]);
  assert.equal(client.lastSeq("v1"), undefined);
  const second = await socket.nth("subscribe", 2);
  assert.deepEqual(second.data, { variant: "v1" }, "no since_seq after a reset");
  second.ack(okAck(1, [], { epoch: "e1", snapshots: [{ variant: "v1", instance_id: "i1", version: 1 }] }));
  await until(() => snaps.length === 2);
  assert.deepEqual(snaps, [7, 1], "version 1 of the new history is shown");
  socket.push("event_new", ev(2));
  assert.deepEqual(seen, [4, 2]);
  // A reconnect resumes with the epoch; a reset ack starts over again.
  socket.drop();
  socket.connect();
  const third = await socket.nth("subscribe", 3);
  assert.deepEqual(third.data, { variant: "v1", since_seq: 2, epoch: "e1" });
  third.ack(okAck(5, [], { epoch: "e2", reset: true }));
  await until(() => resets.length === 2);
  assert.deepEqual(resets, ["e1", "e2"]);
  assert.equal(client.lastSeq("v1"), 5);
  socket.push("event_new", ev(3)); // below the new ack seq: already covered
  socket.push("event_new", ev(6));
  assert.deepEqual(seen, [4, 2, 6]);
});

test("a server_shutdown message reconnects at once and resumes from lastSeq", async () => {
  const told = [];
  const { client, socket } = setup({ onShutdown: (m) => told.push(m) });
  socket.connect();
  const seen = [];
  const done = client.subscribe("v1", { onEvent: (e) => seen.push(e.seq) });
  (await socket.nth("subscribe", 1)).ack(okAck(4, [ev(4)]));
  await done;
  const msg = { reconnect: true, reason: "shutting down" };
  socket.push("server_shutdown", msg);
  assert.deepEqual(told, [msg]);
  assert.equal(socket.connects, 2, "reconnected without waiting for a back-off");
  assert.deepEqual((await socket.nth("subscribe", 2)).data, { variant: "v1", since_seq: 4 });
  socket.push("server_shutdown", { reconnect: false, reason: "maintenance" });
  assert.equal(socket.connects, 2, "reconnect: false leaves it to the application");
  client.close();
  socket.push("server_shutdown", msg);
  assert.equal(socket.connects, 2, "no reconnect after close()");
  assert.equal(told.length, 3);
});
