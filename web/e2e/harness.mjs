// Test harness of the dashboard's browser tests: a real gateway binary (built by cargo) on a
// free port over a temporary SQLite file, the demo writer as its own process, direct writes
// with Debian's sqlite3 CLI (the way a strategy writes), and Debian's headless Chromium driven
// by playwright-core (which never downloads a browser). Waits poll a condition against a
// deadline; nothing sleeps as synchronisation.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../..");
export const ARTIFACTS = path.join(HERE, "artifacts");
export const CHROMIUM = process.env.SIGNALGATE_CHROMIUM ?? "/usr/bin/chromium";
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** The gateway binary: $SIGNALGATE_BIN, else <target dir>/debug/signalgate. */
export function gatewayBinary() {
  const bin = process.env.SIGNALGATE_BIN
    ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, "target"), "debug", "signalgate");
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`cargo build\` first (or set SIGNALGATE_BIN)`);
  return bin;
}

/** Polls `fn` (sync or async) until it returns a truthy value; throws after `ms`. */
export async function waitFor(what, fn, ms = 10_000, every = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A temporary directory, removed by the returned cleanup. */
export function tempDir() {
  const dir = mkdtempSync(path.join(tmpdir(), "sg-e2e-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `signalgate <args>` as a child process; its output goes to the test log when TEST_LOG=1. */
function run(args) {
  const child = spawn(gatewayBinary(), args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info,sqlx=warn,socketioxide=warn,engineioxide=warn" },
  });
  const log = [];
  for (const s of [child.stdout, child.stderr]) {
    s.on("data", (d) => {
      log.push(String(d));
      if (process.env.TEST_LOG === "1") process.stderr.write(`[${args[0]}] ${d}`);
    });
  }
  child.exited = new Promise((r) => child.once("exit", (code, sig) => r({ code, sig })));
  child.log = log;
  return child;
}

async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const res = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r(null), 10_000))]);
  if (res === null) {
    child.kill("SIGKILL");
    await child.exited;
  }
}

/** The demo writer on `db` (`signalgate demo`), stopped by `.stop()`. */
export function startDemo(db, extra = []) {
  const child = run(["demo", "--database-url", `sqlite://${db}`, ...extra]);
  return { child, stop: () => stop(child) };
}

/**
 * The demo writer on `db`, once its history is written: `--demo-history` (240 by default) bars
 * of its first symbol, plus the snapshots of the three demo variants (the first tick writes
 * those, long before the history is complete).
 */
export async function startDemoWithHistory(db, extra = []) {
  const at = extra.indexOf("--demo-history");
  const history = at >= 0 ? Number(extra[at + 1]) : 240;
  const demo = startDemo(db, extra);
  await waitFor("the demo's history", () => {
    try {
      const bars = sql(db, "SELECT COUNT(*) AS n FROM dbbardata WHERE symbol = 'rb2405' AND interval = '1m'")[0].n;
      const variants = sql(db, "SELECT COUNT(DISTINCT variant) AS n FROM monitor_signal_snapshot")[0].n;
      return bars >= history && variants === 3;
    } catch {
      return false; // the file or the tables do not exist yet
    }
  }, 60_000, 200);
  return demo;
}

/**
 * A gateway on 127.0.0.1:`port` over `db`, ready (live state loaded) when this resolves.
 * `jwtSecret` turns token authentication on (`--jwt-secret`); mint tokens with `mintToken`.
 */
export async function startGateway(db, port, extra = [], { jwtSecret } = {}) {
  const auth = jwtSecret ? ["--jwt-secret", jwtSecret] : [];
  const child = run(["serve", "--listen", `127.0.0.1:${port}`, "--database-url", `sqlite://${db}`, ...auth, ...extra]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor("the gateway to be ready", async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited: ${child.log.join("")}`);
    const res = await fetch(`${url}/readyz`);
    return res.ok && (await res.json()).realtime === true;
  }, 20_000, 100);
  return { child, url, stop: () => stop(child) };
}

/** A token from `signalgate token` signed with `secret`, for the `variants` globs, valid for `ttl` ("1h", "5s"). */
export function mintToken(secret, { sub = "e2e", variants, ttl = "1h" }) {
  return execFileSync(gatewayBinary(), ["token", "--jwt-secret", secret, "--sub", sub, "--variants", variants.join(","), "--ttl", ttl], {
    encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

/** Runs SQL on `db` with the sqlite3 CLI (waits up to 5 s on a writer lock); returns rows as JSON. */
export function sql(db, statement) {
  const out = execFileSync("sqlite3", ["-cmd", ".timeout 5000", "-json", db, statement], {
    encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
  });
  return out.trim() ? JSON.parse(out) : [];
}

/** A time as the SQLite store writes it: `YYYY-MM-DD HH:MM:SS.ffffff` (UTC). */
export const sqlTime = (d) => `${d.toISOString().replace("T", " ").replace("Z", "")}000`;

export const quote = (v) => `'${String(v).replaceAll("'", "''")}'`;

/** Upserts a snapshot through the seed columns, like a strategy does. */
export function writeSnapshot(db, { variant, instance, payload, barDt = new Date() }) {
  sql(db, `INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json)
    VALUES (${quote(variant)}, ${quote(instance)}, ${quote(sqlTime(new Date()))}, ${quote(sqlTime(barDt))}, '1m', 1, ${quote(JSON.stringify(payload))})
    ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = excluded.updated_at, bar_dt = excluded.bar_dt,
      payload_json = excluded.payload_json`);
}

/** Inserts an event through the seed columns; returns its seq. */
export function writeEvent(db, { variant, instance = "inst-e2e", vtSymbol, type, key, payload, barDt }) {
  sql(db, `INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json)
    VALUES (${quote(variant)}, ${quote(instance)}, ${quote(vtSymbol)}, ${barDt ? quote(sqlTime(barDt)) : "NULL"}, ${quote(type)},
      ${quote(key)}, ${quote(sqlTime(new Date()))}, ${quote(JSON.stringify(payload))}) ON CONFLICT (event_key) DO NOTHING`);
  return numberedSeq(db, key);
}

/**
 * The `seq` of the event with `key` once the running gateway has numbered it (events are
 * inserted with `seq` NULL and numbered by the gateway's poller within a poll or two); throws
 * after 10 s.
 */
export function numberedSeq(db, key) {
  const deadline = Date.now() + 10_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const seq = sql(db, `SELECT seq FROM monitor_signal_event WHERE event_key = ${quote(key)}`)[0]?.seq;
    if (seq !== null && seq !== undefined) return seq;
    if (Date.now() > deadline) throw new Error(`event ${key} not numbered within 10 s: is the gateway running?`);
    Atomics.wait(pause, 0, 0, 20); // a synchronous 20 ms pause between two reads
  }
}

/** Headless Debian Chromium with a fresh profile; `.close()` removes the profile. */
export async function launchBrowser() {
  const profile = tempDir();
  const context = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const close = async () => {
    await context.close();
    profile.cleanup();
  };
  return { context, close };
}

/** A fresh browser and a page whose script errors are printed. */
export async function openPage() {
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err));
  return { browser, page };
}

/** Stops whatever a test file started (any of them may be missing). */
export async function closeAll({ browser, gw, demo, tmp }) {
  await browser?.close();
  await gw?.stop();
  await demo?.stop();
  tmp?.cleanup();
}

/** Saves a screenshot into web/e2e/artifacts/ (gitignored). */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Inserts `count` older 1-minute bars before the earliest bar of `symbol.exchange`. */
export function writeOlderBars(db, symbol, exchange, count) {
  sql(db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
    INSERT INTO dbbardata (symbol, exchange, "datetime", "interval", volume, turnover, open_interest,
      open_price, high_price, low_price, close_price)
    SELECT ${quote(symbol)}, ${quote(exchange)}, strftime('%Y-%m-%d %H:%M:%S', f.first, '-' || i || ' minutes') || '.000000',
      '1m', 100, 1000, 100000, 3600 + i % 17, 3606 + i % 17, 3594 + i % 17, 3601 + i % 17
    FROM n, (SELECT MIN("datetime") AS first FROM dbbardata WHERE symbol = ${quote(symbol)}
      AND exchange = ${quote(exchange)} AND "interval" = '1m') f`);
}

/** Upserts one 1-minute bar; `at` is written as the naive time VnPy would store (UTC here). */
export function writeBar(db, { symbol, exchange, at, close }) {
  const dt = `${at.toISOString().replace("T", " ").slice(0, 19)}.000000`;
  sql(db, `INSERT INTO dbbardata (symbol, exchange, "datetime", "interval", volume, turnover, open_interest,
      open_price, high_price, low_price, close_price)
    VALUES (${quote(symbol)}, ${quote(exchange)}, ${quote(dt)}, '1m', 10, 100, 1000, ${close - 1}, ${close + 2}, ${close - 2}, ${close})
    ON CONFLICT (symbol, exchange, "interval", "datetime") DO UPDATE SET close_price = excluded.close_price,
      high_price = excluded.high_price, low_price = excluded.low_price, open_price = excluded.open_price`);
}

/** axe-core's serious and critical violations on the page, in the light and the dark theme. */
export async function axeViolations(page) {
  await page.addScriptTag({ path: AXE });
  const found = [];
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    const violations = await page.evaluate(async () =>
      (await window.axe.run(document, { resultTypes: ["violations"] })).violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`));
    found.push(...violations.map((v) => `${scheme}: ${v}`));
  }
  await page.emulateMedia({ colorScheme: "light" });
  return found;
}

/** Seqs of the feed's rows, top to bottom. */
export const feedSeqs = (page) => page.$$eval("#feed li[data-seq]", (lis) => lis.map((li) => Number(li.dataset.seq)));
/** The connection state shown (`data-state` of #conn). */
export const connState = (page) => page.$eval("#conn", (n) => n.dataset.state);
/** The chart's candles, markers and visible range as drawn (see chart.js `inspect`). */
export const inspectChart = (page) => page.evaluate(() => window.signalgate?.chart.inspect());
