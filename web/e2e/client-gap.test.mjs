// The JS helper (clients/js/signalgate-client.js, in Node, no browser) against a real gateway with token
// authentication (`--jwt-secret`) and a small `--resume-cap`, so a resume gap must be filled
// over REST: the gap fill sends the socket's token, every event arrives exactly once and in
// order, and a failed gap fill (a real 401 from the gateway) never moves the position past the
// gap. See harness.mjs for the gateway and the sqlite3 writes.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { io } from "socket.io-client";
import { SignalgateClient } from "../../clients/js/signalgate-client.js";
import { freePort, mintToken, quote, sql, sqlTime, startGateway, tempDir, waitFor } from "./harness.mjs";

const SECRET = "e2e-client-gap-secret-0123456789";
const RESUME_CAP = 50; // events in one subscribe ack; a longer resume is truncated
const GAP = 400; // events written while the client is away: 8 acks' worth

/** Writes `n` events of `variant` in one statement (the gateway numbers them 1, 2, ...). */
function writeEvents(db, variant, n, tag) {
  sql(db, `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${n})
    INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json)
    SELECT ${quote(variant)}, 'inst-01', 'rb2405.SHFE', NULL, 'signal', ${quote(`${variant}-${tag}-`)} || i,
      ${quote(sqlTime(new Date()))}, '{"i":' || i || '}' FROM k`);
}

function writeSnapshot(db, variant) {
  sql(db, `INSERT INTO monitor_signal_snapshot (variant, instance_id, updated_at, payload_json)
    VALUES (${quote(variant)}, 'inst-01', ${quote(sqlTime(new Date()))}, '{}')`);
}

/** Records what a subscription delivers and checks the helper's position at each step. */
function recorder(client, variant) {
  const rec = { seqs: [], errors: [], positionsAtError: [] };
  rec.opts = {
    onEvent: (e) => rec.seqs.push(e.seq),
    onError: (err) => {
      rec.errors.push(err);
      rec.positionsAtError.push({ lastSeq: client.lastSeq(variant), delivered: rec.seqs.at(-1) });
    },
  };
  return rec;
}

/** Waits until the gateway's live position of `variant` (a subscribe ack's `seq`) reaches `seq`. */
async function gatewaySees(url, token, variant, seq) {
  const socket = io(url, { auth: { token }, transports: ["websocket"] });
  try {
    await waitFor(`the gateway at seq ${seq} of ${variant}`, async () => {
      const ack = await socket.timeout(2000).emitWithAck("subscribe", { variant });
      return ack?.ok && ack.seq >= seq;
    }, 10_000, 100);
  } finally {
    socket.disconnect();
  }
}

/** 1..n */
const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

describe("the JS helper fills resume gaps over REST with the socket's token", () => {
  let tmp, db, gw, token;
  const clients = [];

  before(async () => {
    tmp = tempDir();
    db = path.join(tmp.dir, "client-gap.db");
    gw = await startGateway(db, await freePort(), ["--resume-cap", String(RESUME_CAP)], { jwtSecret: SECRET });
    token = mintToken(SECRET, { variants: ["gap_*"] });
  });

  after(async () => {
    for (const c of clients) c.close();
    await gw?.stop();
    tmp?.cleanup();
  });

  test("a reconnect after a long absence: every event once, in order, then the live stream", async () => {
    const variant = "gap_resume";
    writeSnapshot(db, variant);
    writeEvents(db, variant, 1, "first");
    const client = new SignalgateClient(gw.url, { io, socketOptions: { auth: { token }, transports: ["websocket"] } });
    clients.push(client);
    const rec = recorder(client, variant);
    await client.subscribe(variant, { ...rec.opts, sinceSeq: 0 }); // replays the first event
    await waitFor("the first event", () => rec.seqs.length === 1, 10_000);
    const first = rec.seqs[0];

    client.socket.disconnect(); // away: the gap is written meanwhile
    writeEvents(db, variant, GAP, "gap");
    await gatewaySees(gw.url, token, variant, first + GAP);
    client.socket.connect(); // resubscribes with since_seq = first: a truncated ack

    await waitFor(`all ${GAP + 1} events`, () => rec.seqs.length >= GAP + 1, 15_000);
    writeEvents(db, variant, 3, "live");
    await waitFor("the live events after the gap", () => rec.seqs.length >= GAP + 4, 10_000);
    assert.deepEqual(rec.errors.map((e) => e.message), [], "the gap fill was not refused");
    assert.deepEqual(rec.seqs, range(GAP + 4).map((i) => i + first - 1), "each event once, in seq order");
    assert.equal(client.lastSeq(variant), first + GAP + 3);
  });

  test("a refused gap fill never moves the position past the gap; the retry delivers everything", async () => {
    const variant = "gap_refused";
    writeSnapshot(db, variant);
    writeEvents(db, variant, GAP, "gap");
    await gatewaySees(gw.url, token, variant, GAP); // so the subscribe's replay is truncated
    let refusals = 2;
    // The first two gap-fill requests go out without the token: the gateway answers 401.
    const restFetch = (url, init = {}) => {
      if (refusals-- <= 0) return fetch(url, init);
      const { Authorization: _dropped, ...headers } = init.headers ?? {};
      return fetch(url, { ...init, headers });
    };
    const client = new SignalgateClient(gw.url, {
      io, fetch: restFetch, reconnectDelayMs: 50, socketOptions: { auth: (cb) => cb({ token }), transports: ["websocket"] },
    });
    clients.push(client);
    const rec = recorder(client, variant);
    await client.subscribe(variant, { ...rec.opts, sinceSeq: 0 }); // resolves once the gap is filled
    writeEvents(db, variant, 2, "live");
    await waitFor("the live events after the gap", () => rec.seqs.length >= GAP + 2, 10_000);
    assert.equal(rec.errors.length, 2, "both refusals reported");
    for (const err of rec.errors) {
      assert.equal(err.code, "gap_fill_failed");
      assert.match(err.message, /HTTP 401/);
    }
    assert.deepEqual(rec.positionsAtError, [{ lastSeq: 0, delivered: undefined }, { lastSeq: 0, delivered: undefined }],
      "nothing delivered and the position unmoved while the gap is unfilled");
    assert.deepEqual(rec.seqs, range(GAP + 2), "each event once, in seq order");
    assert.equal(client.lastSeq(variant), GAP + 2);
  });
});
