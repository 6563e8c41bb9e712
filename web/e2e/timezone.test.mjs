// Browser test: event markers sit on their candle when VnPy's bars are stored in a local zone
// (--bars-timezone Asia/Shanghai) and events in UTC. See harness.mjs.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  closeAll, openPage, freePort, inspectChart, screenshot, sql, startDemoWithHistory, startGateway,
  tempDir, waitFor, writeEvent,
} from "./harness.mjs";

describe("dashboard (bars stored in Asia/Shanghai)", () => {
  let tmp, db, demo, gw, browser, page;
  const TZ = ["--bars-timezone", "Asia/Shanghai"];

  before(async () => {
    tmp = tempDir();
    db = path.join(tmp.dir, "e2e-tz.db");
    demo = await startDemoWithHistory(db, [...TZ, "--demo-tick-ms", "1000", "--demo-history", "120"]);
    gw = await startGateway(db, await freePort(), TZ);
    ({ browser, page } = await openPage());
  });

  after(() => closeAll({ browser, gw, demo, tmp }));

  test("markers sit on the candle of their bar", async () => {
    // A bar as VnPy stored it: naive Shanghai time (UTC+8, no DST).
    const bar = sql(db, `SELECT datetime, close_price FROM dbbardata WHERE symbol = 'rb2405' AND exchange = 'SHFE'
      AND interval = '1m' ORDER BY datetime DESC LIMIT 1 OFFSET 30`)[0];
    const utc = new Date(`${bar.datetime.replace(" ", "T").slice(0, 19)}+08:00`);
    const seq = writeEvent(db, {
      variant: "trend_follow_v1", vtSymbol: "rb2405.SHFE", type: "signal", key: `e2e|tz|${Date.now()}`,
      payload: { signal_type: "sell", reason: "e2e timezone probe" }, barDt: utc,
    });
    await page.goto(`${new URL(gw.url)}?variant=trend_follow_v1&instrument=rb2405.SHFE`);
    await waitFor("the probe's marker", async () => (await inspectChart(page)).markers.some((m) => m.id === String(seq)), 5_000);
    const chart = await inspectChart(page);
    const marker = chart.markers.find((m) => m.id === String(seq));
    assert.equal(marker.time, utc.getTime() / 1000, "marker at the event's bar_dt (UTC)");
    const candle = chart.candles.find((c) => c.time === marker.time);
    assert.ok(candle, "a candle at the marker's time");
    assert.ok(Math.abs(candle.close - bar.close_price) < 1e-9, `candle close ${candle.close} = stored ${bar.close_price}`);
    // Every marker is on a candle, at its event's own bar_dt.
    const events = (await (await fetch(`${gw.url}/api/events/trend_follow_v1?vt_symbol=rb2405.SHFE&limit=5000`)).json()).events;
    const barDtOf = new Map(events.map((e) => [String(e.seq), Date.parse(e.bar_dt) / 1000]));
    const times = new Set(chart.candles.map((c) => c.time));
    assert.ok(chart.markers.length > 1);
    for (const m of chart.markers) {
      assert.ok(times.has(m.time), `marker ${m.id} on a candle`);
      assert.equal(m.time, barDtOf.get(m.id), `marker ${m.id} at its bar_dt`);
    }
    await screenshot(page, "markers-shanghai");
  });
});
