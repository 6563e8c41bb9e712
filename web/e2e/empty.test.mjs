// Browser tests on a database that starts empty: the page says so, then shows the strategies
// when they start writing; a history replaced in the database is reloaded. See harness.mjs.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  closeAll, openPage, feedSeqs, freePort, sql, startDemo, startGateway, tempDir, waitFor, writeEvent,
} from "./harness.mjs";

describe("dashboard (empty database)", () => {
  let tmp, db, demo, gw, browser, page;

  before(async () => {
    tmp = tempDir();
    db = path.join(tmp.dir, "e2e-empty.db");
    gw = await startGateway(db, await freePort()); // applies the migrations
    ({ browser, page } = await openPage());
  });

  after(() => closeAll({ browser, gw, demo, tmp }));

  test("says there is nothing yet, then shows the strategies when they start writing", async () => {
    await page.goto(`${gw.url}/`);
    await waitFor("the empty message", () => page.$eval("#message", (m) => !m.hidden && /No variants yet/.test(m.textContent)), 5_000);
    demo = startDemo(db, ["--demo-tick-ms", "500", "--demo-history", "30"]);
    // The variant list is re-read every 10 s.
    await waitFor("the first variant on screen, without reload", () => page.evaluate(() =>
      !document.getElementById("view").hidden && document.getElementById("message").hidden
      && window.signalgate.chart.inspect().candles.length > 0), 20_000, 100);
  });

  test("a variant whose history was replaced in the database is reloaded (stream_reset)", async () => {
    await demo.stop();
    demo = null;
    const variant = new URL(page.url()).searchParams.get("variant");
    await waitFor("events in the feed", async () => (await feedSeqs(page)).length > 0, 10_000);
    // The history of the variant goes back to nothing, as after recreating the database.
    sql(db, `DELETE FROM monitor_signal_event WHERE variant = '${variant}';
      DELETE FROM monitor_signal_seq WHERE variant = '${variant}'`);
    await waitFor("the old events dropped", async () => (await feedSeqs(page)).length === 0, 5_000);
    const seq = writeEvent(db, {
      variant, vtSymbol: "rb2405.SHFE", type: "alert", key: `e2e|reset|${Date.now()}`,
      payload: { alert_type: "e2e", message: "first event of the new history" }, barDt: new Date(),
    });
    assert.equal(seq, 1);
    await waitFor("only the new history", async () => JSON.stringify(await feedSeqs(page)) === "[1]", 5_000);
    assert.match(await page.$eval('#feed li[data-seq="1"]', (li) => li.textContent), /first event of the new history/);
  });
});
