// Browser tests of the desk features (issue 19): columns the desk chooses, price decimals, the
// red-up switch, alerts (list, sound, desktop notification, acknowledge, stale alarm), the
// time-zone switch, the phone layout, and the overview sidebar with 500 variants (search,
// filter, favourites; only the selected variant subscribed). Bars are stored in Asia/Shanghai,
// so exchange time and the browser's (UTC) time differ. See harness.mjs.
//
// SIGNALGATE_DOCS_IMG=1 writes the desktop and phone screenshots to docs/img/.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  axeViolations, closeAll, openPage, freePort, inspectChart, screenshot, sql, quote, sqlTime, REPO,
  startDemoWithHistory, startGateway, tempDir, waitFor, writeEvent, writeSnapshot,
} from "./harness.mjs";

const MANY = 500;
const TZ = ["--bars-timezone", "Asia/Shanghai"];

/** A desk variant's payload: nested fields, prices with 3 decimals. */
const deskPayload = (trend = "up", price = 3601.5) => ({
  instruments: {
    "rb2405.SHFE": {
      td_count: 4, last_price: price, bid_price: 3601.125, atr: 12.25, hot: true,
      calc_bar_dt: "2026-01-05T01:30:00Z",
      status: { dull_top: true, dull_bottom: false, div_top: false, div_bottom: false, trend },
      last_signal: { signal_type: "buy", reason: "desk probe" },
    },
  },
});

/** MANY variants `zz_v0000`… with one snapshot each (one statement, before the gateway starts). */
function seedMany(db) {
  const payload = JSON.stringify({ instruments: { "ZZ1.E2E": { td_count: 1, status: { dull_top: false } } } });
  sql(db, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${MANY - 1})
    INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json)
    SELECT printf('zz_v%04d', i), 'inst-1', ${quote(sqlTime(new Date()))}, ${quote(sqlTime(new Date()))}, '1m', 1, ${quote(payload)} FROM n`);
}

const headers = (page) => page.$$eval("#instruments thead th", (ths) => ths.map((t) => t.dataset.col));
const cellOf = (page, col) => page.$eval("#instruments thead", (head, c) => {
  const i = [...head.rows[0].cells].findIndex((t) => t.dataset.col === c);
  return head.closest("table").tBodies[0].rows[0].cells[i].textContent.trim();
}, col);

describe("desk: columns, alerts, time, phone, 500 variants", () => {
  let tmp, db, demo, gw, browser, page;

  before(async () => {
    tmp = tempDir();
    db = path.join(tmp.dir, "desk.db");
    demo = await startDemoWithHistory(db, [...TZ, "--demo-tick-ms", "1000", "--demo-history", "120"]);
    seedMany(db);
    writeSnapshot(db, { variant: "desk_a", instance: "inst-1", payload: deskPayload() });
    gw = await startGateway(db, await freePort(), TZ);
    ({ browser, page } = await openPage());
  });

  after(() => closeAll({ browser, gw, demo, tmp }));

  test("500 variants: first paint from the overview, one subscription, search, filter, favourites", async () => {
    const t0 = Date.now();
    await page.goto(`${gw.url}/?variant=zz_v0499`);
    await waitFor("sidebar and table", () => page.evaluate((n) =>
      document.querySelectorAll("#variants li[data-variant]").length >= n
      && document.querySelector('#instruments tbody tr[data-symbol="ZZ1.E2E"]') !== null, MANY), 5_000, 20);
    console.log(`first paint with ${MANY + 4} variants in ${Date.now() - t0} ms`);
    assert.equal(await page.evaluate(() => window.signalgate.state.overview), true);
    assert.deepEqual(await page.evaluate(() => [...window.signalgate.state.subs.keys()]), ["zz_v0499"]);
    // Another variant: the previous one is unsubscribed.
    await page.click('#variants li[data-variant="desk_a"] a');
    await waitFor("desk_a", () => page.$('#instruments tbody tr[data-symbol="rb2405.SHFE"]'), 5_000);
    assert.deepEqual(await page.evaluate(() => [...window.signalgate.state.subs.keys()]), ["desk_a"]);
    // The sidebar follows the overview live: a light turned on in an unsubscribed variant.
    writeSnapshot(db, { variant: "zz_v0007", instance: "inst-1", payload: { instruments: { "ZZ1.E2E": { status: { dull_top: true } } } } });
    await waitFor("zz_v0007's light", () => page.$eval('#variants li[data-variant="zz_v0007"] .v-lights', (n) => n.textContent.includes("dull ↑1")), 5_000);
    // Search, filter, favourites.
    await page.fill("#variant-search", "zz_v049");
    assert.equal(await page.$$eval("#variants li[data-variant]", (l) => l.length), 10);
    await page.fill("#variant-search", "");
    await page.selectOption("#variant-filter", "lights");
    await waitFor("lights filter", () => page.$$eval("#variants li[data-variant]", (l) => l.some((x) => x.dataset.variant === "zz_v0007") && !l.some((x) => x.dataset.variant === "zz_v0001")), 2_000);
    await page.selectOption("#variant-filter", "");
    await page.click('#variants li[data-variant="zz_v0123"] .star');
    assert.equal(await page.$eval('#variants li[data-variant="zz_v0123"] .star', (b) => b.getAttribute("aria-pressed")), "true");
    assert.equal(await page.$eval("#variants li[data-variant]", (li) => li.dataset.variant), "zz_v0123", "favourites first");
    await page.reload();
    await page.selectOption("#variant-filter", "favourites");
    await waitFor("favourites kept", () => page.$$eval("#variants li[data-variant]", (l) => l.length === 1 && l[0].dataset.variant === "zz_v0123"), 5_000);
    await page.selectOption("#variant-filter", "");
  });

  test("a gateway without the overview (404): one subscription per variant, up to 32, as before", async () => {
    const notFound = (route) => route.fulfill({ status: 404, contentType: "application/json",
      body: JSON.stringify({ error: { code: "not_found", message: "no such route" } }) });
    await page.route("**/api/overview", notFound);
    try {
      await page.goto(`${gw.url}/?variant=desk_a`);
      await waitFor("sidebar and table", () => page.evaluate((n) =>
        document.querySelectorAll("#variants li[data-variant]").length >= n
        && document.querySelector('#instruments tbody tr[data-symbol="rb2405.SHFE"]') !== null, MANY), 10_000);
      assert.equal(await page.evaluate(() => window.signalgate.state.overview), false);
      assert.equal(await page.evaluate(() => window.signalgate.state.subs.size), 32);
    } finally {
      await page.unroute("**/api/overview", notFound);
    }
  });

  test("columns: defaults, add a nested field, reorder, kept per variant and in the URL; decimals from the data", async () => {
    await page.goto(`${gw.url}/?variant=desk_a`);
    await waitFor("the table", () => page.$('#instruments tbody tr[data-symbol="rb2405.SHFE"]'), 5_000);
    assert.deepEqual(await headers(page), ["vt_symbol", "dull_top", "dull_bottom", "div_top", "div_bottom", "td_count", "last_signal", "last_price", "calc_bar_dt"]);
    // bid_price has 3 decimals, so every price of the instrument shows 3.
    assert.equal(await cellOf(page, "last_price"), "3601.500");
    await page.click("#col-picker summary");
    const fields = await page.$$eval("#col-picker li", (l) => l.map((x) => x.dataset.field));
    for (const f of ["atr", "bid_price", "hot", "status.trend"]) assert.ok(fields.includes(f), `picker lists ${f}: ${fields}`);
    await page.check('#col-picker li[data-field="status.trend"] input');
    await waitFor("status.trend column", async () => (await headers(page)).at(-1) === "status.trend", 2_000);
    assert.equal(await cellOf(page, "status.trend"), "up");
    await page.click('#col-picker button[aria-label="Move status.trend left"]');
    await waitFor("moved left", async () => (await headers(page)).at(-2) === "status.trend", 2_000);
    await page.uncheck('#col-picker li[data-field="dull_bottom"] input');
    await waitFor("dull_bottom gone", async () => !(await headers(page)).includes("dull_bottom"), 2_000);
    const cols = new URL(page.url()).searchParams.get("cols");
    assert.equal(cols, "dull_top,div_top,div_bottom,td_count,last_signal,last_price,status.trend,calc_bar_dt");
    // Kept for this variant in this browser...
    await page.goto(`${gw.url}/?variant=desk_a`);
    await waitFor("stored columns", async () => (await headers(page)).includes("status.trend"), 5_000);
    // ...shared by URL...
    await page.goto(`${gw.url}/?variant=desk_a&cols=td_count,hot`);
    await waitFor("URL columns", async () => JSON.stringify(await headers(page)) === JSON.stringify(["vt_symbol", "td_count", "hot"]), 5_000);
    assert.equal(await cellOf(page, "hot"), "yes");
    // ...and not carried over to another variant.
    await page.goto(`${gw.url}/?variant=trend_follow_v1`);
    await waitFor("defaults elsewhere", async () => (await headers(page)).includes("dull_bottom"), 5_000);
    await page.goto(`${gw.url}/?variant=desk_a`);
    await page.click("#col-picker summary");
    await page.click("#col-picker >> text=Reset to default columns");
    await waitFor("defaults again", async () => (await headers(page)).includes("dull_bottom"), 2_000);
  });

  test("red up / green down: candles, lights and price moves swap colours; kept", async () => {
    await page.goto(`${gw.url}/?variant=desk_a&instrument=rb2405.SHFE`);
    await waitFor("candles", async () => (await inspectChart(page))?.candles.length > 0, 5_000);
    const lamp = () => page.$eval("#instruments td.light.on .lamp", (n) => getComputedStyle(n).color);
    assert.equal(await lamp(), "rgb(10, 125, 56)");
    await page.selectOption("#updown-select", "red");
    assert.equal(await lamp(), "rgb(198, 40, 40)");
    assert.equal((await inspectChart(page)).upColor, "#c62828");
    // A price rise is drawn in the up colour (red now).
    writeSnapshot(db, { variant: "desk_a", instance: "inst-1", payload: deskPayload("up", 3602.5) });
    await waitFor("price up", () => page.$("#instruments td.move-up"), 5_000);
    assert.equal(await page.$eval("#instruments td.move-up", (n) => getComputedStyle(n).color), "rgb(198, 40, 40)");
    await page.reload();
    await waitFor("kept", async () => (await inspectChart(page))?.upColor === "#c62828", 5_000);
    const chart = await inspectChart(page);
    assert.equal(chart.volumes, chart.candles.length, "a volume bar per candle");
  });

  test("intervals: 5m candles built from 1-minute bars, clock-aligned; a span in equal-time candles; favicon", async () => {
    await page.goto(`${gw.url}/?variant=desk_a&instrument=rb2405.SHFE&interval=5m`);
    await waitFor("5m candles", async () => {
      const c = await inspectChart(page);
      return c?.key?.interval === "5m" && c.candles.length > 10;
    }, 5_000);
    const c = await inspectChart(page);
    const times = c.candles.map((x) => x.time);
    assert.ok(times.every((t) => t % 300 === 0), "on 5-minute boundaries");
    assert.ok(times.every((t, i) => i === 0 || t - times[i - 1] >= 300), "one candle per 5 minutes at most");
    assert.equal(c.volumes, c.candles.length);
    await page.selectOption("#interval", "1m");
    await page.selectOption("#span", "1d");
    await waitFor("the 1-day span", async () => {
      const x = await inspectChart(page);
      return x.key.span === "1d" && x.interval === "5m" && x.candles.length > 0;
    }, 5_000);
    assert.match(await page.$eval("#chart-note", (n) => n.textContent), /last 1d in \d+ 5m candles/);
    await page.selectOption("#span", "recent");
    // The favicon the page links to is served.
    const icon = await page.$eval('link[rel="icon"]', (l) => l.href);
    assert.equal((await fetch(icon)).status, 200);
    assert.equal((await fetch(`${gw.url}/favicon.ico`)).status, 200);
  });

  test("time zone: exchange time (the bars' zone) or local, labelled", async () => {
    await page.goto(`${gw.url}/?variant=desk_a`);
    await waitFor("zone label", () => page.$eval("[data-zone]", (n) => n.textContent === "times in Asia/Shanghai"), 5_000);
    // calc_bar_dt 01:30Z is 09:30 in Shanghai.
    assert.equal(await cellOf(page, "calc_bar_dt"), "2026-01-05 09:30:00");
    await page.selectOption("#tz-select", "local");
    const local = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    await waitFor("local label", () => page.$eval("[data-zone]", (n, z) => n.textContent === `times in ${z} (local)`, local), 2_000);
    const expected = await page.evaluate(() => {
      const d = new Date("2026-01-05T01:30:00Z"), p = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:00`;
    });
    assert.equal(await cellOf(page, "calc_bar_dt"), expected);
    await page.selectOption("#tz-select", "exchange");
  });

  test("alerts: list, sound and desktop notification per variant and type; acknowledge; stale alarm", async () => {
    await browser.context.grantPermissions(["notifications"], { origin: gw.url });
    await page.goto(`${gw.url}/?variant=desk_a`);
    await waitFor("the table", () => page.$('#instruments tbody tr[data-symbol="rb2405.SHFE"]'), 5_000);
    await page.click("#alerts summary");
    for (const ch of ["list", "sound", "notify"]) await page.check(`#alert-settings input[data-type="signal"][data-channel="${ch}"]`);
    const seq = writeEvent(db, { variant: "desk_a", vtSymbol: "rb2405.SHFE", type: "signal", key: `desk|sig|${Date.now()}`,
      payload: { signal_type: "buy", reason: "desk alert probe" } });
    await waitFor("the alert entry", () => page.$eval("#alert-list", (l) => l.textContent.includes("desk alert probe")), 5_000);
    const sent = await page.evaluate(() => window.signalgate.alerts.sent);
    assert.ok(sent.beeps >= 1 && sent.notifications >= 1, JSON.stringify(sent));
    assert.ok(seq > 0);
    assert.match(await page.$eval("#alarm", (b) => b.textContent), /alert/);
    // The demo's alerts of other variants are listed too (alerts are listed by default): pick ours.
    await page.click('#alert-list li:has-text("desk alert probe") button:text-is("Acknowledge")');
    await waitFor("acknowledged", () => page.$eval("#alert-list", (l) => !l.textContent.includes("desk alert probe")), 2_000);
    // Stale alarm: a threshold of 0.1 min (6 s) for desk_a, whose snapshot then stops changing.
    writeSnapshot(db, { variant: "desk_a", instance: "inst-1", payload: deskPayload("down") });
    await page.fill("#stale-minutes", "0.1");
    await page.press("#stale-minutes", "Enter");
    await page.$eval("#stale-minutes", (n) => n.dispatchEvent(new Event("change")));
    await waitFor("the stale alarm", () => page.$eval("#alert-list", (l) => /desk_a\s*stale: no snapshot for over 6 s/.test(l.textContent)), 15_000, 100);
    assert.match(await page.$eval("#alarm", (b) => b.textContent), /1 stale/);
    assert.equal(await page.$eval('#variants li[data-variant="desk_a"]', (li) => li.classList.contains("stale")), true);
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await page.fill("#stale-minutes", "");
    await page.$eval("#stale-minutes", (n) => n.dispatchEvent(new Event("change")));
  });

  test("phone: no horizontal scrolling at 390 px; axe clean with the column picker open", async () => {
    await page.goto(`${gw.url}/?variant=trend_follow_v1&instrument=rb2405.SHFE`);
    await waitFor("paint", async () => (await inspectChart(page))?.candles.length > 0 && (await page.$("#feed li[data-seq]")), 5_000);
    await page.selectOption("#updown-select", "green");
    await page.emulateMedia({ colorScheme: "light" });
    const docs = process.env.SIGNALGATE_DOCS_IMG === "1";
    await page.screenshot({ path: docs ? path.join(REPO, "docs/img/dashboard.png") : await screenshot(page, "desk-desktop") });
    await page.setViewportSize({ width: 390, height: 844 });
    await waitFor("layout", async () => (await page.evaluate(() => document.documentElement.scrollWidth)) <= 390, 2_000);
    await page.screenshot({ path: docs ? path.join(REPO, "docs/img/dashboard-phone.png") : await screenshot(page, "desk-phone") });
    await page.click("#col-picker summary");
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 390);
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await page.setViewportSize({ width: 1440, height: 900 });
  });
});
