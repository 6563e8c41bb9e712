"""Flask-SocketIO peer for the signalgate load test, "mode A": a background task polls
MySQL/MariaDB every POLL_MS milliseconds for rows with `id > last_id` (and snapshots with a newer
`updated_at`) and emits each one to the room of its variant. It speaks signalgate's protocol:
`subscribe` {variant} with an ack, `event_new` and `snapshot_update` pushes; no `since_seq`.

Runs on gevent (the production server Flask-SocketIO recommends) with PyMySQL.
Environment: PORT, DATABASE_URL (mysql://user:pass@host:port/db), POLL_MS (default 100).
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
from urllib.parse import unquote, urlparse  # noqa: E402

import pymysql  # noqa: E402
from flask import Flask  # noqa: E402
from flask_socketio import SocketIO, join_room, leave_room  # noqa: E402

PORT = int(os.environ.get("PORT", "5000"))
POLL_MS = int(os.environ.get("POLL_MS", "100"))
BATCH = 1000
EVENT_COLS = "id, variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json"
SNAP_COLS = "variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json"

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent", cors_allowed_origins="*")
log = logging.getLogger("peer")


def connect():
    u = urlparse(os.environ["DATABASE_URL"])
    return pymysql.connect(
        host=u.hostname,
        port=u.port or 3306,
        user=unquote(u.username or "root"),
        password=unquote(u.password or ""),
        database=u.path.lstrip("/"),
        autocommit=True,  # each poll sees the latest committed rows
        cursorclass=pymysql.cursors.DictCursor,
    )


def to_json(row):
    out = {}
    for k, v in row.items():
        if k == "payload_json":
            out["payload"] = json.loads(v)
        elif hasattr(v, "isoformat"):
            out[k] = v.isoformat() + "Z"
        else:
            out[k] = v
    return out


def poll():
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) AS m FROM monitor_signal_event")
        last_id = cur.fetchone()["m"]
        cur.execute("SELECT MAX(updated_at) AS m FROM monitor_signal_snapshot")
        last_updated = cur.fetchone()["m"] or "1970-01-01 00:00:00"
    while True:
        full = False
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"SELECT {EVENT_COLS} FROM monitor_signal_event WHERE id > %s ORDER BY id LIMIT {BATCH}",
                    (last_id,),
                )
                rows = cur.fetchall()
                for r in rows:
                    last_id = r["id"]
                    socketio.emit("event_new", to_json(r), to=f"variant:{r['variant']}")
                full = len(rows) == BATCH
                cur.execute(
                    f"SELECT {SNAP_COLS} FROM monitor_signal_snapshot WHERE updated_at > %s ORDER BY updated_at",
                    (last_updated,),
                )
                for s in cur.fetchall():
                    last_updated = s["updated_at"]
                    socketio.emit("snapshot_update", to_json(s), to=f"variant:{s['variant']}")
        except pymysql.MySQLError as e:
            log.warning("poll failed: %s", e)
            conn = connect()
        socketio.sleep(0 if full else POLL_MS / 1000)


@socketio.on("subscribe")
def subscribe(req):
    if not isinstance(req, dict) or not isinstance(req.get("variant"), str) or not req["variant"]:
        return {"ok": False, "error": {"code": "invalid_request", "message": "variant is required"}}
    join_room(f"variant:{req['variant']}")
    return {"ok": True, "variant": req["variant"], "snapshots": [], "events": [], "seq": None, "truncated": False}


@socketio.on("unsubscribe")
def unsubscribe(req):
    if isinstance(req, dict) and isinstance(req.get("variant"), str):
        leave_room(f"variant:{req['variant']}")
    return {"ok": True}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    socketio.start_background_task(poll)
    socketio.run(app, host="127.0.0.1", port=PORT, log_output=False)
