// Unit tests of the dashboard's live-bar follower (web/js/bars.js) against a fake socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { BarFeed } from "../js/bars.js";

/** A socket.io-like socket: records emits; `timeout(ms).emit` gets `(err, ack)` callbacks. */
class FakeSocket extends EventEmitter {
  constructor() {
    super();
    this.connected = true;
    this.sent = [];
  }
  emit(event, data, ack) {
    this.sent.push({ event, data, ack });
    return true;
  }
  timeout() {
    return { emit: (event, data, ack) => this.sent.push({ event, data, ack, timed: true }) };
  }
  push(event, data) {
    super.emit(event, data);
  }
}

const bar = (close) => ({ datetime: "2024-05-01T01:30:00.000000Z", open: 1, high: 2, low: 0, close });

test("follows one series: the ack's bar and matching pushes reach onBar", () => {
  const socket = new FakeSocket();
  const got = [];
  const feed = new BarFeed(socket, (b) => got.push(b.close));
  feed.follow("rb2405.SHFE", "1m");
  assert.deepEqual(socket.sent.map((s) => [s.event, s.data]), [["subscribe_bars", { vt_symbol: "rb2405.SHFE", interval: "1m" }]]);
  socket.sent[0].ack(null, { ok: true, vt_symbol: "rb2405.SHFE", interval: "1m", bar: bar(1) });
  assert.equal(feed.supported, true);
  socket.push("bar_update", { vt_symbol: "rb2405.SHFE", interval: "1m", bar: bar(2) });
  socket.push("bar_update", { vt_symbol: "rb2405.SHFE", interval: "1h", bar: bar(3) }); // other interval
  socket.push("bar_update", { vt_symbol: "au2406.SHFE", interval: "1m", bar: bar(4) }); // other symbol
  assert.deepEqual(got, [1, 2]);
});

test("switching series unsubscribes the old one; a late ack of the old one is ignored", () => {
  const socket = new FakeSocket();
  const got = [];
  const feed = new BarFeed(socket, (b) => got.push(b.close));
  feed.follow("rb2405.SHFE", "1m");
  feed.follow("rb2405.SHFE", "1m"); // same series: nothing sent
  feed.follow("au2406.SHFE", "1m");
  assert.deepEqual(socket.sent.map((s) => s.event), ["subscribe_bars", "unsubscribe_bars", "subscribe_bars"]);
  assert.deepEqual(socket.sent[1].data, { vt_symbol: "rb2405.SHFE", interval: "1m" });
  socket.sent[0].ack(null, { ok: true, bar: bar(9) }); // stale
  socket.sent[2].ack(null, { ok: true, bar: null }); // no bar yet
  assert.deepEqual(got, []);
});

test("subscribes again after a reconnect", () => {
  const socket = new FakeSocket();
  const feed = new BarFeed(socket, () => {});
  socket.connected = false;
  feed.follow("rb2405.SHFE", "1m"); // offline: sent on connect
  assert.equal(socket.sent.length, 0);
  socket.connected = true;
  socket.push("connect");
  socket.push("connect");
  assert.deepEqual(socket.sent.map((s) => s.event), ["subscribe_bars", "subscribe_bars"]);
});

test("a refused or unanswered subscribe marks live bars unsupported", () => {
  for (const [err, ack] of [[new Error("operation has timed out"), undefined], [null, { ok: false, error: { code: "unknown_event", message: "x" } }]]) {
    const socket = new FakeSocket();
    const feed = new BarFeed(socket, () => assert.fail("no bar"));
    const warn = console.warn;
    console.warn = () => {};
    try {
      feed.follow("rb2405.SHFE", "1m");
      socket.sent[0].ack(err, ack);
    } finally {
      console.warn = warn;
    }
    assert.equal(feed.supported, false);
  }
});
