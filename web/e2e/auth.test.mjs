// Browser tests of the dashboard against a gateway with token authentication (`--jwt-secret`):
// the token entry, a refused token, a token that grants two of the three demo variants, reload,
// a variant outside the grants, sign out and expiry. Tokens come from `signalgate token`.
// See harness.mjs.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  axeViolations, closeAll, openPage, connState, feedSeqs, freePort, mintToken, screenshot, startDemoWithHistory,
  startGateway, tempDir, waitFor, writeEvent,
} from "./harness.mjs";

const SECRET = "e2e-dashboard-secret-0123456789";
/** The demo writes breakout_v3, mean_revert_v2 and trend_follow_v1; the token grants two. */
const GLOBS = ["trend_*", "mean_*"];
const GRANTED = ["mean_revert_v2", "trend_follow_v1"];

/** The token entry is on screen (and the dashboard is not). */
const onTokenEntry = (page) => page.evaluate(() =>
  !document.getElementById("signin").hidden && document.getElementById("view").hidden);
const signinError = (page) => page.$eval("#signin-error", (n) => (n.hidden ? "" : n.textContent));
const storedToken = (page) => page.evaluate(() => sessionStorage.getItem("signalgate.token"));
const sidebarVariants = (page) => page.$$eval("#variants li[data-variant]", (l) => l.map((li) => li.dataset.variant));
/** The dashboard is up: the granted variants in the sidebar, a variant open with its candles. */
const dashboardShown = (page) => page.evaluate((n) =>
  document.querySelectorAll("#variants li[data-variant]").length === n && !document.getElementById("view").hidden
  && document.getElementById("signin").hidden && window.signalgate.chart.inspect().candles.length > 0, GRANTED.length);

async function signIn(page, token) {
  await page.fill("#token-input", token);
  await page.click("#signin-form button[type=submit]");
}

describe("dashboard with token authentication", () => {
  let tmp, db, demo, gw, browser, page;

  before(async () => {
    tmp = tempDir();
    db = path.join(tmp.dir, "e2e-auth.db");
    demo = await startDemoWithHistory(db, ["--demo-tick-ms", "500"]);
    gw = await startGateway(db, await freePort(), [], { jwtSecret: SECRET });
    ({ browser, page } = await openPage());
  });

  after(() => closeAll({ browser, gw, demo, tmp }));

  test("without a token: the token entry, accessible (axe-core, light and dark)", async () => {
    await page.goto(`${gw.url}/`);
    await waitFor("the token entry", () => onTokenEntry(page), 5_000);
    assert.equal(await page.$eval("#token-input", (i) => i.type), "password");
    assert.equal(await page.$eval("label[for=token-input]", (l) => l.textContent), "Token");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "token-input");
    assert.equal(await signinError(page), "", "no error before a token was tried");
    assert.equal(await connState(page), "signedout");
    assert.equal(await page.$eval("#signout", (b) => b.hidden), true);
    assert.deepEqual(await sidebarVariants(page), []);
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], violations.join("\n"));
    await screenshot(page, "token-entry");
  });

  test("a token signed with another secret is refused with the gateway's reason", async () => {
    await signIn(page, mintToken("another-secret-0123456789abcdef", { variants: ["*"] }));
    await waitFor("the error", async () => (await signinError(page)) !== "", 5_000);
    assert.equal(await signinError(page), "The gateway refused the token: invalid token: bad signature");
    assert.equal(await page.$eval("#token-input", (i) => i.getAttribute("aria-invalid")), "true");
    assert.equal(await onTokenEntry(page), true);
    assert.equal(await storedToken(page), null, "a refused token is not stored");
    await screenshot(page, "token-refused");
  });

  test("a valid token: only the granted variants, live updates, token in sessionStorage only", async () => {
    const token = mintToken(SECRET, { variants: GLOBS });
    const t0 = Date.now();
    await signIn(page, token);
    await waitFor("the dashboard", () => dashboardShown(page), 5_000, 25);
    console.log(`dashboard shown ${Date.now() - t0} ms after the token was submitted`);
    assert.deepEqual((await sidebarVariants(page)).sort(), GRANTED);
    assert.equal(await storedToken(page), token);
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
    assert.ok(!page.url().includes(token), "the token is not in the URL");
    assert.equal(await page.$eval("#signout", (b) => b.hidden), false);
    // Live over the authenticated socket: a new event of the variant on screen.
    const variant = new URL(page.url()).searchParams.get("variant");
    assert.ok(GRANTED.includes(variant), variant);
    await waitFor("live", async () => (await connState(page)) === "live", 5_000);
    const seq = writeEvent(db, {
      variant, vtSymbol: "rb2405.SHFE", type: "alert", key: `e2e|auth|${Date.now()}`,
      payload: { alert_type: "e2e", message: "event seen with a token" }, barDt: new Date(),
    });
    await waitFor("the event in the feed", async () => (await feedSeqs(page)).includes(seq), 3_000, 20);
    assert.match(await page.$eval(`#feed li[data-seq="${seq}"]`, (li) => li.textContent), /event seen with a token/);
    await screenshot(page, "auth-dashboard");
  });

  test("a reload keeps the session (no token entry)", async () => {
    await page.reload();
    await waitFor("the dashboard again", () => dashboardShown(page), 5_000, 25);
    assert.deepEqual((await sidebarVariants(page)).sort(), GRANTED);
  });

  test("a variant the token does not grant gets a clear message naming it", async () => {
    await page.goto(`${gw.url}/?variant=breakout_v3`);
    await waitFor("the message", () => page.$eval("#message", (m) => !m.hidden), 5_000);
    const text = await page.$eval("#message", (m) => m.textContent);
    assert.match(text, /No access to variant “breakout_v3”/);
    assert.match(text, /the token does not grant variant 'breakout_v3'/);
    for (const v of GRANTED) assert.ok(text.includes(v), `lists ${v}`);
    assert.equal(await page.$eval("#view", (v) => v.hidden), true);
    assert.deepEqual((await sidebarVariants(page)).sort(), GRANTED);
    await screenshot(page, "variant-not-granted");
  });

  test("sign out forgets the token and shows the token entry", async () => {
    await page.click("#signout");
    await waitFor("the token entry", () => onTokenEntry(page), 5_000);
    assert.equal(await storedToken(page), null);
    assert.equal(await signinError(page), "");
  });

  test("a token expiring while the page is open returns to the token entry, saying so", async () => {
    await page.goto(`${gw.url}/?variant=trend_follow_v1`);
    await waitFor("the token entry", () => onTokenEntry(page), 5_000);
    // Long enough to show the dashboard first, short enough to expire during the test.
    await signIn(page, mintToken(SECRET, { variants: GLOBS, ttl: "8s" }));
    await waitFor("the dashboard", () => dashboardShown(page), 5_000, 25);
    const t0 = Date.now();
    await waitFor("the token entry after expiry", () => onTokenEntry(page), 15_000, 50);
    console.log(`token entry ${Date.now() - t0} ms after the dashboard was shown`);
    assert.equal(await signinError(page), "Your token expired. Enter a new token to continue.");
    assert.equal(await storedToken(page), null, "the expired token is forgotten");
    assert.equal(await connState(page), "signedout");
    assert.deepEqual(await sidebarVariants(page), [], "nothing of the old session stays on screen");
    await screenshot(page, "token-expired");
    // A fresh token brings the dashboard back, on the same variant.
    await signIn(page, mintToken(SECRET, { variants: GLOBS }));
    await waitFor("the dashboard", () => dashboardShown(page), 10_000, 25);
    assert.equal(new URL(page.url()).searchParams.get("variant"), "trend_follow_v1");
  });
});
