// Browser tests of the dashboard: Debian's headless Chromium (playwright-core) against a real
// gateway binary over SQLite with the demo writer running as its own process. See harness.mjs.
//
//   cd web && npm run e2e          (needs target/debug/signalgate, /usr/bin/chromium, sqlite3)
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  axeViolations, closeAll, openPage, ARTIFACTS, connState, feedSeqs, freePort, inspectChart, screenshot, sql,
  startDemoWithHistory, startGateway, tempDir, waitFor, writeBar, writeEvent, writeOlderBars,
  writeSnapshot,
} from "./harness.mjs";

const DEMO_VARIANTS = ["breakout_v3", "mean_revert_v2", "trend_follow_v1"];

describe("dashboard (UTC bars)", () => {
  let tmp, db, demo, gw, port, browser, page;

  before(async () => {
    tmp = tempDir();
    db = path.join(tmp.dir, "e2e.db");
    // The demo writer applies the migrations, writes 240 bars of history, then a bar every 500 ms.
    demo = await startDemoWithHistory(db, ["--demo-tick-ms", "500"]);
    // 1200 more minutes of rb2405.SHFE history, so the chart has older pages and a day has
    // more bars than the zoomed-out view's max_points.
    writeOlderBars(db, "rb2405", "SHFE", 1200);
    port = await freePort();
    gw = await startGateway(db, port);
    ({ browser, page } = await openPage());
  });

  after(() => closeAll({ browser, gw, demo, tmp }));

  test("first paint: sidebar, instruments table and candles within 5 s", async () => {
    const t0 = Date.now();
    await page.goto(`${gw.url}/`);
    await waitFor("first paint", () => page.evaluate(() =>
      document.querySelectorAll("#variants li[data-variant]").length === 3
      && document.querySelectorAll("#instruments tbody tr[data-symbol]").length >= 3
      && window.signalgate?.chart.inspect().candles.length > 0), 5_000, 25);
    const ms = Date.now() - t0;
    console.log(`first paint in ${ms} ms`);
    // With nothing in the URL, / opens the first variant of /api/variants and writes it there.
    const first = (await (await fetch(`${gw.url}/api/variants`)).json()).variants[0].variant;
    assert.equal(new URL(page.url()).searchParams.get("variant"), first);
    assert.equal(await page.$eval("#variants a[aria-current=page]", (a) => a.textContent.includes(a.closest("li").dataset.variant)), true);
    assert.equal(await page.$eval("#variants a[aria-current=page]", (a) => a.closest("li").dataset.variant), first);
    // A gateway without authentication: no token entry, no sign-out control.
    assert.equal(await page.$eval("#signin", (s) => s.hidden), true);
    assert.equal(await page.$eval("#signout", (b) => b.hidden), true);
    // The demo writes `instruments` as a map keyed by vt_symbol: one row per symbol.
    const symbols = await page.$$eval("#instruments tbody tr[data-symbol]", (trs) => trs.map((t) => t.dataset.symbol).sort());
    assert.deepEqual(symbols, ["IF2406.CFFEX", "au2406.SHFE", "rb2405.SHFE"]);
    // Lights are readable without colour: each cell says on or off.
    const lights = await page.$$eval("#instruments tbody td.light", (tds) => tds.map((t) => t.textContent.trim()));
    assert.ok(lights.length === 12 && lights.every((t) => /^[●○] (on|off)$/.test(t)), lights.join("|"));
    // The chart has the latest 1m bars and markers on them.
    const chart = await inspectChart(page);
    assert.ok(chart.candles.length >= 240, `only ${chart.candles.length} candles`);
    await page.emulateMedia({ colorScheme: "light" });
    await screenshot(page, "dashboard-light");
    await page.emulateMedia({ colorScheme: "dark" });
    await screenshot(page, "dashboard-dark");
    await page.emulateMedia({ colorScheme: "light" });
  });

  test("a snapshot change and a new event appear within 2 s without reload", async () => {
    await page.goto(`${gw.url}/?variant=trend_follow_v1&instrument=rb2405.SHFE`);
    await waitFor("the table", () => page.$('#instruments tbody tr[data-symbol="rb2405.SHFE"]'), 5_000);
    await page.evaluate(() => { window.notReloaded = true; });
    const payload = (td) => ({
      instruments: {
        "ZZ2499.E2E": { td_count: td, last_price: 123.45, calc_bar_dt: new Date().toISOString(),
          status: { dull_top: true, dull_bottom: false, div_top: false, div_bottom: true },
          last_signal: { signal_type: "buy", reason: "e2e probe" } },
      },
      positions_summary: { count: 0, positions: [] }, orders_summary: { active: 1 },
    });
    let t0 = Date.now();
    writeSnapshot(db, { variant: "trend_follow_v1", instance: "inst-e2e", payload: payload(7) });
    await waitFor("the new instance's row", () => page.$('#instruments tbody tr[data-key="inst-e2e|ZZ2499.E2E"]'), 2_000, 20);
    console.log(`new snapshot shown in ${Date.now() - t0} ms`);
    t0 = Date.now();
    writeSnapshot(db, { variant: "trend_follow_v1", instance: "inst-e2e", payload: payload(8) });
    await waitFor("td_count 8", () => page.$eval('#instruments tbody tr[data-key="inst-e2e|ZZ2499.E2E"]',
      (tr) => [...tr.cells].some((c) => c.classList.contains("num") && c.textContent === "8")), 2_000, 20);
    console.log(`snapshot change shown in ${Date.now() - t0} ms`);
    // The instance card says how fresh it is; two instances: an Instance column.
    assert.match(await page.$eval('[data-instance="inst-e2e"]', (n) => n.textContent), /updated \d+ s ago/);

    const bars = await (await fetch(`${gw.url}/api/bars?vt_symbol=rb2405.SHFE&interval=1m&limit=3`)).json();
    const barDt = new Date(bars.bars[0].datetime);
    t0 = Date.now();
    const seq = writeEvent(db, {
      variant: "trend_follow_v1", vtSymbol: "rb2405.SHFE", type: "signal", key: `e2e|live|${Date.now()}`,
      payload: { signal_type: "buy", reason: "e2e live probe", price: 1 }, barDt,
    });
    await waitFor("the event in the feed", () => page.$(`#feed li[data-seq="${seq}"]`), 2_000, 20);
    console.log(`new event shown in ${Date.now() - t0} ms`);
    assert.match(await page.$eval(`#feed li[data-seq="${seq}"]`, (li) => li.textContent), /e2e live probe/);
    // ...and as a marker on its candle.
    await waitFor("the live marker", async () => (await inspectChart(page)).markers.some((m) => m.id === String(seq)), 2_000, 20);
    const chart = await inspectChart(page);
    assert.equal(chart.markers.find((m) => m.id === String(seq)).time, barDt.getTime() / 1000);
    assert.equal(await page.evaluate(() => window.notReloaded), true);
    // Filters: type alert hides the signal; back to all shows it.
    await page.selectOption("#feed-type", "alert");
    assert.equal(await page.$(`#feed li[data-seq="${seq}"]`), null);
    await page.selectOption("#feed-type", "");
    assert.ok(await page.$(`#feed li[data-seq="${seq}"]`));
  });

  test("the chart follows the demo's new bars", async () => {
    const before = (await inspectChart(page)).candles.at(-1).time;
    await waitFor("a newer last candle", async () => (await inspectChart(page)).candles.at(-1).time > before, 10_000, 50);
  });

  test("a bar written to dbbardata alone moves the chart (live bars, no reload, no REST)", async () => {
    // A variant whose snapshot never changes, so nothing but the bar push can move its chart.
    const minute = 60_000;
    const start = Math.floor(Date.now() / minute) * minute - 20 * minute;
    for (let i = 0; i < 10; i++) writeBar(db, { symbol: "ZZ2499", exchange: "E2E", at: new Date(start + i * minute), close: 100 + i });
    writeSnapshot(db, { variant: "e2e_bars", instance: "inst-e2e", payload: { instruments: { "ZZ2499.E2E": { td_count: 1 } } } });
    await page.goto(`${gw.url}/?variant=e2e_bars&instrument=ZZ2499.E2E`);
    await waitFor("the 10 bars", async () => (await inspectChart(page))?.candles.length === 10, 15_000);
    await waitFor("live bars followed", () => page.evaluate(() => window.signalgate.barFeed.supported === true), 5_000);
    const rest = [];
    const onRequest = (r) => { if (r.url().includes("/api/bars")) rest.push(r.url()); };
    page.on("request", onRequest);
    let t0 = Date.now();
    writeBar(db, { symbol: "ZZ2499", exchange: "E2E", at: new Date(start + 10 * minute), close: 777 });
    await waitFor("the new candle", async () => {
      const last = (await inspectChart(page)).candles.at(-1);
      return last.time === (start + 10 * minute) / 1000 && last.close === 777;
    }, 3_000, 20);
    console.log(`new bar on the chart in ${Date.now() - t0} ms`);
    t0 = Date.now();
    writeBar(db, { symbol: "ZZ2499", exchange: "E2E", at: new Date(start + 10 * minute), close: 778 });
    await waitFor("the updated candle", async () => (await inspectChart(page)).candles.at(-1).close === 778, 3_000, 20);
    console.log(`changed bar on the chart in ${Date.now() - t0} ms`);
    page.off("request", onRequest);
    assert.equal((await inspectChart(page)).candles.length, 11);
    assert.deepEqual(rest, [], "moved by bar_update pushes, not by REST reads");
  });

  test("clicking an event selects its instrument and scrolls to its bar", async () => {
    await page.goto(`${gw.url}/?variant=trend_follow_v1&instrument=au2406.SHFE`);
    await waitFor("the feed", () => page.$('#feed li[data-seq] .ev-sym:text-is("rb2405.SHFE")'), 5_000);
    await waitFor("au2406 chart", async () => (await inspectChart(page))?.key?.vtSymbol === "au2406.SHFE", 5_000);
    // The oldest rb2405.SHFE event in the feed: its bar is out of view at first.
    const rows = await page.$$('#feed li[data-seq]:has(.ev-sym:text-is("rb2405.SHFE"))');
    assert.ok(rows.length > 0, "an rb2405.SHFE event in the feed");
    const row = rows.at(-1);
    const seq = await row.getAttribute("data-seq");
    const events = (await (await fetch(`${gw.url}/api/events/trend_follow_v1?vt_symbol=rb2405.SHFE&limit=5000`)).json()).events;
    const barTime = Date.parse(events.find((e) => String(e.seq) === seq).bar_dt) / 1000;
    await (await row.$("button")).click();
    await waitFor("rb2405 chart scrolled to the event's bar", async () => {
      const c = await inspectChart(page);
      return c.key?.vtSymbol === "rb2405.SHFE" && c.visible && c.visible.from <= barTime && barTime <= c.visible.to;
    }, 5_000);
    assert.equal(new URL(page.url()).searchParams.get("instrument"), "rb2405.SHFE");
  });

  test("scrolling back loads older bars; their markers follow", async () => {
    const before = await inspectChart(page);
    assert.equal(before.key.vtSymbol, "rb2405.SHFE");
    assert.ok(before.candles.length >= 500, "the latest page of 500 bars (and new ones since)");
    // Scroll to the left edge, as a drag would.
    await page.evaluate(() => window.signalgate.chart.chart.timeScale().setVisibleLogicalRange({ from: 2, to: 122 }));
    await waitFor("an older page", async () => (await inspectChart(page)).candles.length >= before.candles.length + 500, 5_000);
    const after = await inspectChart(page);
    assert.ok(after.candles[0].time < before.candles[0].time);
    const times = after.candles.map((c) => c.time);
    assert.ok(times.every((t, i) => i === 0 || t - times[i - 1] === 60), "one candle per minute, no gap or overlap");
    assert.ok(after.markers.every((m) => times.includes(m.time)));
  });

  test("a wider span asks for at most 600 candles (max_points)", async () => {
    const requests = [];
    const onRequest = (r) => { if (r.url().includes("/api/bars")) requests.push(new URL(r.url())); };
    page.on("request", onRequest);
    await page.selectOption("#span", "1d");
    await waitFor("the 1-day view", async () => {
      const c = await inspectChart(page);
      // Markers come from a separate events request: wait for them too, not only the candles.
      return c.key.span === "1d" && c.candles.length > 0 && c.markers.length > 0;
    }, 5_000);
    page.off("request", onRequest);
    assert.equal(new URL(page.url()).searchParams.get("span"), "1d");
    assert.equal(requests.at(-1).searchParams.get("max_points"), "600");
    const c = await inspectChart(page);
    const raw = sql(db, "SELECT COUNT(*) AS n FROM dbbardata WHERE symbol = 'rb2405' AND interval = '1m'")[0].n;
    assert.ok(raw > 1400 && c.candles.length <= 600, `${raw} bars shown as ${c.candles.length} candles`);
    const times = new Set(c.candles.map((x) => x.time));
    assert.ok(c.markers.length > 0 && c.markers.every((m) => times.has(m.time)), "markers on bucket candles");
    await page.selectOption("#span", "recent");
  });

  test("the variant in the URL is honoured; an unknown variant gets a clear message", async () => {
    await page.goto(`${gw.url}/?variant=mean_revert_v2`);
    await waitFor("mean_revert_v2", () => page.$eval("#title", (n) => n.textContent === "mean_revert_v2"), 5_000);
    assert.equal(await page.$eval("#variants a[aria-current=page]", (a) => a.closest("li").dataset.variant), "mean_revert_v2");
    await waitFor("its rows", () => page.$("#instruments tbody tr[data-symbol]"), 5_000);

    await page.goto(`${gw.url}/?variant=no_such_variant`);
    await waitFor("the message", () => page.$eval("#message", (m) => !m.hidden), 5_000);
    const text = await page.$eval("#message", (m) => m.textContent);
    assert.match(text, /Unknown variant “no_such_variant”/);
    for (const v of DEMO_VARIANTS) assert.ok(text.includes(v), `lists ${v}`);
    assert.equal(await page.$eval("#view", (v) => v.hidden), true);
    assert.ok(await page.$$eval("#variants li[data-variant]", (l) => l.length) >= 3); // the sidebar still works
    await screenshot(page, "unknown-variant");
  });

  test("axe-core: no serious or critical violation (light and dark)", async () => {
    await page.goto(`${gw.url}/?variant=trend_follow_v1`);
    await waitFor("the main view", async () => (await inspectChart(page)).candles.length > 0
      && (await page.$("#feed li[data-seq]")), 5_000);
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
  });

  test("gateway restart: reconnecting, then resumed; every event exactly once", async () => {
    await page.goto(`${gw.url}/?variant=breakout_v3`);
    await waitFor("live", async () => (await connState(page)) === "live" && (await feedSeqs(page)).length > 0, 5_000);
    const firstSeq = Math.min(...(await feedSeqs(page)));
    const rowsOf = () => sql(db, "SELECT COUNT(*) AS n FROM monitor_signal_event WHERE variant = 'breakout_v3'")[0].n;
    const beforeStop = rowsOf();
    await gw.stop();
    await waitFor("reconnecting", async () => ["reconnecting", "offline"].includes(await connState(page)), 5_000);
    // The frozen values are dimmed, not only the badge.
    assert.ok(Number(await page.$eval("#view", (n) => getComputedStyle(n).opacity)) < 1, "the view is dimmed while reconnecting");
    // The demo keeps writing while the gateway is down (its events wait with seq NULL).
    await waitFor("events written during the outage", () => rowsOf() > beforeStop, 15_000, 100);
    gw = await startGateway(db, port);
    await waitFor("resumed", async () => (await connState(page)) === "resumed", 15_000, 20);
    assert.equal(await page.$eval("#view", (n) => getComputedStyle(n).opacity), "1", "not dimmed once resumed");
    // The restarted gateway numbers what was written while it was down.
    await waitFor("the outage's events numbered", () =>
      sql(db, "SELECT COUNT(*) AS n FROM monitor_signal_event WHERE variant = 'breakout_v3' AND seq IS NULL")[0].n === 0, 10_000, 50);
    const resumedText = await page.$eval("#conn-text", (n) => n.textContent);
    assert.match(resumedText, /Resumed · \d+ events? caught up/);
    assert.ok(Number(resumedText.match(/(\d+) event/)[1]) >= 1, resumedText);
    await screenshot(page, "resumed");
    // Every event of the variant from the first one shown up to now is in the feed exactly once.
    const upto = sql(db, "SELECT MAX(seq) AS s FROM monitor_signal_event WHERE variant = 'breakout_v3'")[0].s;
    const expected = sql(db, `SELECT seq FROM monitor_signal_event WHERE variant = 'breakout_v3' AND seq >= ${firstSeq} AND seq <= ${upto} ORDER BY seq`)
      .map((r) => r.seq);
    await waitFor("every event in the feed", async () => {
      const shown = new Set(await feedSeqs(page));
      return expected.every((s) => shown.has(s));
    }, 5_000);
    const shown = await feedSeqs(page);
    assert.equal(new Set(shown).size, shown.length, "no duplicate rows");
    assert.deepEqual(shown, [...shown].sort((a, b) => b - a), "newest first");
    assert.equal(await page.evaluate(() => window.signalgate.client.lastSeq("breakout_v3") >= 0), true);
  });
});

process.on("exit", () => console.log(`screenshots in ${ARTIFACTS}`));
