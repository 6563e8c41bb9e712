// Unit tests of the dashboard's payload helpers (web/js/util.js): the snapshot payload's
// `instruments` as a map keyed by vt_symbol (design document) or as a list.
import { test } from "node:test";
import assert from "node:assert/strict";
import { instrumentsOf, light, lastSignal, ago } from "../js/util.js";

test("instruments as a map keyed by vt_symbol", () => {
  const got = instrumentsOf({ instruments: { "rb2405.SHFE": { td_count: 3 }, "au2406.SHFE": { td_count: 1 }, bad: null } });
  assert.deepEqual(got, [{ td_count: 3, vt_symbol: "rb2405.SHFE" }, { td_count: 1, vt_symbol: "au2406.SHFE" }]);
});

test("instruments as a list; entries without vt_symbol are skipped", () => {
  const got = instrumentsOf({ instruments: [{ vt_symbol: "rb2405.SHFE", td_count: 3 }, { td_count: 9 }, null] });
  assert.deepEqual(got, [{ vt_symbol: "rb2405.SHFE", td_count: 3 }]);
});

test("missing or malformed instruments give no rows", () => {
  for (const p of [null, {}, { instruments: 5 }, { instruments: "x" }]) assert.deepEqual(instrumentsOf(p), []);
});

test("a map entry's own vt_symbol wins over its key", () => {
  assert.equal(instrumentsOf({ instruments: { k: { vt_symbol: "IF2406.CFFEX" } } })[0].vt_symbol, "IF2406.CFFEX");
});

test("lights from status.* or top-level fields; last signal as object or string", () => {
  assert.equal(light({ status: { dull_top: true } }, "dull_top"), true);
  assert.equal(light({ div_bottom: true }, "div_bottom"), true);
  assert.equal(light({}, "div_top"), false);
  assert.deepEqual(lastSignal({ last_signal: { signal_type: "buy", reason: "td9" } }), { type: "buy", reason: "td9" });
  assert.deepEqual(lastSignal({ last_signal: "sell" }), { type: "sell", reason: "" });
  assert.equal(lastSignal({ last_signal: null }), null);
});

test("ago", () => {
  const now = Date.parse("2024-05-01T00:10:00Z");
  assert.equal(ago("2024-05-01T00:09:55Z", now), "5 s ago");
  assert.equal(ago("2024-05-01T00:00:00Z", now), "10 min ago");
  assert.equal(ago(null, now), "never");
});
