import path from "node:path";
import { openPage, freePort, startDemoWithHistory, startGateway, tempDir, waitFor, closeAll, inspectChart } from "./harness.mjs";
const tmp = tempDir(); const db = path.join(tmp.dir, "s.db");
const demo = await startDemoWithHistory(db, ["--demo-tick-ms", "500"]);
const gw = await startGateway(db, await freePort());
const { browser, page } = await openPage();
page.on("console", (m) => console.log("console:", m.type(), m.text()));
try {
  await page.goto(gw.url + "/");
  await waitFor("paint", () => page.evaluate(() => document.querySelectorAll("#instruments tbody tr[data-symbol]").length >= 3 && window.signalgate.chart.inspect().candles.length > 0), 8000);
  console.log(await page.evaluate(() => ({ subs: [...window.signalgate.state.subs.keys()], ov: window.signalgate.state.overview, head: document.querySelector("#instruments thead").textContent, row: document.querySelector("#instruments tbody tr").textContent, zone: document.querySelector("[data-zone]").textContent, note: document.querySelector("#chart-note").textContent, sidebar: document.querySelector("#variants").textContent.slice(0, 300) })));
  await page.screenshot({ path: "/tmp/dui/a.png" });
  await page.setViewportSize({ width: 390, height: 844 });
  console.log("scrollWidth", await page.evaluate(() => document.documentElement.scrollWidth));
  console.log(await page.evaluate(() => [...document.querySelectorAll("body *")].filter((n) => n.getBoundingClientRect().right > 392).slice(0, 15).map((n) => `${n.tagName}#${n.id}.${n.className} ${Math.round(n.getBoundingClientRect().right)}`)));
  await page.screenshot({ path: "/tmp/dui/phone.png", fullPage: true });
} catch (e) { console.log(e); } finally { await closeAll({ browser, gw, demo, tmp }); }
