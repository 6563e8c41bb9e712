// Unit tests of the desk's settings helpers: price decimals and payload paths (util.js), the
// stale threshold (stale.js), the columns of the URL and of the data (columns.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decimalsOf, price, pathGet, scalarPaths, localTime, setDisplayZone } from "../js/util.js";
import { barSeconds, defaultStaleMs, isStale } from "../js/stale.js";
import { parseCols, availableFields, DEFAULT_COLUMNS, sortValue, isLight } from "../js/columns.js";

test("decimals as written, capped at 6; price uses them", () => {
  assert.equal(decimalsOf(3601), 0);
  assert.equal(decimalsOf(3601.5), 1);
  assert.equal(decimalsOf(0.000125), 6);
  assert.equal(decimalsOf(1.23456789), 6);
  assert.equal(decimalsOf(1e-9), 6);
  assert.equal(decimalsOf("1.5"), 0);
  assert.equal(price(1.5, 4), "1.5000");
  assert.equal(price(null), "–");
});

test("nested paths of scalar fields", () => {
  const inst = { td_count: 3, status: { trend: "up", dull_top: true, deep: { x: 1 } }, list: [1], none: null };
  assert.deepEqual([...scalarPaths(inst)].sort(), ["status.deep.x", "status.dull_top", "status.trend", "td_count"]);
  assert.equal(pathGet(inst, "status.trend"), "up");
  assert.equal(pathGet(inst, "status.nope.x"), undefined);
});

test("bar periods and the default stale threshold: three bars", () => {
  assert.equal(barSeconds("1m"), 60);
  assert.equal(barSeconds("15m", 2), 1800);
  assert.equal(barSeconds("d"), 86400);
  assert.equal(barSeconds("bogus"), null);
  assert.equal(defaultStaleMs("1m", 1), 180_000);
  assert.equal(defaultStaleMs("1h", 1), 3 * 3600_000);
  assert.equal(defaultStaleMs(null, null), 180_000);
  const now = Date.parse("2026-01-01T00:10:00Z");
  assert.equal(isStale("2026-01-01T00:06:00Z", 180_000, now), true);
  assert.equal(isStale("2026-01-01T00:08:00Z", 180_000, now), false);
  assert.equal(isStale(null, 180_000, now), true);
});

test("cols= of the URL: paths in order, duplicates and junk dropped", () => {
  assert.deepEqual(parseCols("td_count,status.trend,td_count,,vt_symbol,a b"), ["td_count", "status.trend"]);
  assert.equal(parseCols(""), null);
  assert.equal(parseCols(null), null);
});

test("fields of the data: defaults first, then every other scalar path", () => {
  const snap = { payload: { instruments: { "rb.SHFE": { td_count: 1, status: { dull_top: true, trend: "up" }, last_signal: { signal_type: "buy" }, atr: 2.5 } } } };
  const f = availableFields([snap]);
  assert.deepEqual(f.slice(0, DEFAULT_COLUMNS.length), DEFAULT_COLUMNS);
  assert.deepEqual(f.slice(DEFAULT_COLUMNS.length), ["atr", "status.trend"]);
  assert.equal(isLight("status.div_top"), true);
  assert.equal(isLight("x.div_top"), false);
  assert.equal(sortValue({ status: { dull_top: true } }, "dull_top"), 1);
  assert.equal(sortValue({ last_signal: { signal_type: "sell" } }, "last_signal"), "sell");
});

test("times in the display zone", () => {
  setDisplayZone("Asia/Shanghai");
  assert.equal(localTime("2026-01-01T00:00:00Z"), "2026-01-01 08:00:00");
  setDisplayZone("UTC");
  assert.equal(localTime(0), "1970-01-01 00:00:00");
  setDisplayZone(null);
});
