// Node.js socket.io 4 peer, written the way its users typically write one: a timer polls
// monitor_signal_event by `id > last_id` (and the snapshot table by `updated_at`) and emits
// each new row to the room of its variant. It speaks signalgate's protocol: `subscribe`
// {variant} with an ack, `event_new` and `snapshot_update` pushes. It has no `since_seq`: the
// design's tables have no commit-ordered cursor, so resuming is not offered.
//
// Group mode (REDIS_URL set): several processes behind one load balancer share rooms through
// @socket.io/redis-adapter, the way the socket.io docs scale out. Only the process started with
// POLLER=1 polls the database; its `io.to(room).emit` goes through Redis to the clients of every
// process (the others just relay). Polling in every process would send each row once per
// process. Nothing takes over when the poller dies: that is what a Node user gets without
// writing leader election.
//
// Environment: PORT, DATABASE_URL (mysql:// or postgres://), POLL_MS (default 100),
// REDIS_URL (group mode), POLLER (group mode: 1 = this process polls; default 1 without Redis).

import http from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { connect } from "./db.js";

const PORT = Number(process.env.PORT ?? 3001);
const POLL_MS = Number(process.env.POLL_MS ?? 100);
const BATCH = 1000;
const REDIS_URL = process.env.REDIS_URL;
const POLLER = REDIS_URL ? process.env.POLLER === "1" : true;

const db = await connect(process.env.DATABASE_URL);
const httpServer = http.createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
if (REDIS_URL) {
  const pubClient = createClient({ url: REDIS_URL });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (err) => console.error("redis:", err.message));
  subClient.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

io.on("connection", (socket) => {
  socket.on("subscribe", (req, ack) => {
    if (typeof ack !== "function") return;
    if (!req || typeof req.variant !== "string" || req.variant === "") {
      return ack({ ok: false, error: { code: "invalid_request", message: "variant is required" } });
    }
    socket.join(`variant:${req.variant}`);
    ack({ ok: true, variant: req.variant, snapshots: [], events: [], seq: null, truncated: false });
  });
  socket.on("unsubscribe", (req, ack) => {
    if (req && typeof req.variant === "string") socket.leave(`variant:${req.variant}`);
    if (typeof ack === "function") ack({ ok: true });
  });
});

const EVENT_COLS =
  "id, variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json";
const SNAP_COLS = "variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json";

const json = (v) => (typeof v === "string" ? JSON.parse(v) : v);
const toEvent = ({ payload_json, ...r }) => ({ ...r, payload: json(payload_json) });

let lastId = Number((await db.query("SELECT COALESCE(MAX(id), 0) AS m FROM monitor_signal_event"))[0].m);
let lastUpdated =
  (await db.query("SELECT MAX(updated_at) AS m FROM monitor_signal_snapshot"))[0].m ?? "1970-01-01 00:00:00";

async function poll() {
  let full = false;
  try {
    const rows = await db.query(
      `SELECT ${EVENT_COLS} FROM monitor_signal_event WHERE id > ? ORDER BY id LIMIT ${BATCH}`,
      [lastId],
    );
    for (const r of rows) {
      lastId = Number(r.id);
      io.to(`variant:${r.variant}`).emit("event_new", toEvent(r));
    }
    full = rows.length === BATCH;
    const snaps = await db.query(
      `SELECT ${SNAP_COLS} FROM monitor_signal_snapshot WHERE updated_at > ? ORDER BY updated_at`,
      [lastUpdated],
    );
    for (const s of snaps) {
      lastUpdated = s.updated_at;
      io.to(`variant:${s.variant}`).emit("snapshot_update", toEvent(s));
    }
  } catch (err) {
    console.error("poll failed:", err.message);
  }
  setTimeout(poll, full ? 0 : POLL_MS);
}

httpServer.listen(PORT, "127.0.0.1", () => {
  const role = REDIS_URL ? (POLLER ? "group poller" : "group relay") : "standalone";
  console.log(`node socket.io peer (${role}) on http://127.0.0.1:${PORT}, poll every ${POLL_MS} ms`);
  if (POLLER) poll();
});
