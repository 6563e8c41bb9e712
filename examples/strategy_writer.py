#!/usr/bin/env python3
"""How a strategy writes what signalgate serves: a worked example.

signalgate only *reads* two tables; strategies write them:

* ``monitor_signal_snapshot`` -- one row per (variant, instance_id), upserted
  on every bar with the latest state of all instruments of that instance.
* ``monitor_signal_event`` -- append-only; one row per signal, state change,
  alert or order, made idempotent by its unique ``event_key``.

Rules this example follows (and your strategy should too):

1. Write ONLY the seed columns shown below. Never write ``version`` (snapshot)
   or ``seq`` (event): database triggers assign them, and ``seq`` is the commit
   order the gateway's cursor relies on.
2. All times are UTC (naive UTC datetimes for MySQL/MariaDB ``DATETIME(6)``;
   the PostgreSQL session is set to UTC as well).
3. One short transaction per bar: the bar's events + the snapshot upsert,
   committed together so a client never sees a snapshot without its events.
   The seq trigger serialises all writers of the same variant for the length
   of their transaction, so do NOT compute indicators, call brokers or sleep
   inside it: prepare everything first, then open, write, commit.
4. Events are inserted idempotently (``INSERT IGNORE`` / ``ON CONFLICT DO
   NOTHING``, no conflict target so it also works once the PostgreSQL event
   table is partitioned): retrying a bar after a crash or a lost commit
   acknowledgement never duplicates an event, as long as the key is rebuilt
   from the same inputs (never from the wall clock at retry time).

The Python package in ``clients/python`` (``pip install "./clients/python[mysql]"``) implements
the same contract as ``signalgate.Writer`` (throttled snapshots and retries included); its
``examples/vnpy_strategy.py`` shows it in a VnPy-style strategy. This file keeps the raw SQL.

Usage (the tables must already exist, e.g. created by signalgate's migrations)::

    pip install -r examples/requirements.txt
    python3 examples/strategy_writer.py --url mysql://root@127.0.0.1:3306/test \\
        --variant demo --instance inst-1 --bars 5
    python3 examples/strategy_writer.py --url postgres://postgres@127.0.0.1:5432/test \\
        --variant demo --instance inst-1 --bars 5
"""

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlparse

# event_key formats (event_key is VARCHAR(192): keep names short):
#   signal       {variant}|{instance}|{vt_symbol}|{bar_dt}|{signal_type}
#   state_change {variant}|{instance}|{vt_symbol}|{bar_dt}|{state_name}|{old}->{new}
#   alert        {variant}|{instance}|{vt_symbol}|{timestamp}|{alert_type}
MYSQL_EVENT = """
INSERT IGNORE INTO monitor_signal_event
  (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"""
# VALUES(col) works on MariaDB and MySQL (deprecated but supported on MySQL 8).
MYSQL_SNAPSHOT = """
INSERT INTO monitor_signal_snapshot
  (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), bar_dt = VALUES(bar_dt),
  bar_interval = VALUES(bar_interval), bar_window = VALUES(bar_window),
  payload_json = VALUES(payload_json)"""
PG_EVENT = """
INSERT INTO monitor_signal_event
  (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING"""  # no conflict target: also right on a partitioned event table
PG_SNAPSHOT = """
INSERT INTO monitor_signal_snapshot
  (variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, payload_json)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = EXCLUDED.updated_at,
  bar_dt = EXCLUDED.bar_dt, bar_interval = EXCLUDED.bar_interval,
  bar_window = EXCLUDED.bar_window, payload_json = EXCLUDED.payload_json"""


def iso(dt):
    """UTC time as text, the way it appears in event keys and payloads."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def connect(url):
    """Open a connection from a mysql:// or postgres:// URL; returns (conn, sql, naive_utc)."""
    u = urlparse(url)
    if u.scheme in ("mysql", "mariadb"):
        try:
            import pymysql
        except ImportError:
            sys.exit("pymysql is missing: pip install pymysql  (or: pip install -r examples/requirements.txt)")
        conn = pymysql.connect(host=u.hostname or "127.0.0.1", port=u.port or 3306,
                               user=unquote(u.username or "root"), password=unquote(u.password or ""),
                               database=u.path.lstrip("/") or None, autocommit=False,
                               init_command="SET time_zone = '+00:00'")
        return conn, (MYSQL_EVENT, MYSQL_SNAPSHOT), True
    if u.scheme in ("postgres", "postgresql"):
        try:
            import psycopg
        except ImportError:
            sys.exit('psycopg (v3) is missing: pip install "psycopg[binary]"  (or: pip install -r examples/requirements.txt)')
        conn = psycopg.connect(url)
        # Session in UTC, so timestamps convert correctly whether the columns are
        # TIMESTAMPTZ (what signalgate creates) or plain TIMESTAMP, whatever PGTZ says.
        conn.execute("SET TIME ZONE 'UTC'")
        conn.commit()
        return conn, (PG_EVENT, PG_SNAPSHOT), False
    sys.exit(f"unsupported URL scheme {u.scheme!r}: use mysql://... or postgres://...")


def simulate_bar(rng, variant, instance, symbols, bar_dt, state):
    """Stand-in for the strategy: returns (events, snapshot payload) for one bar.

    Each event is (vt_symbol, event_type, event_key, payload)."""
    events, instruments = [], {}  # instruments: a map keyed by vt_symbol (design document)
    for sym in symbols:
        st = state.setdefault(sym, {"price": 3600.0, "td": 0, "dull_top": False, "last_signal": None})
        st["price"] = round(st["price"] * (1 + rng.uniform(-0.004, 0.004)), 1)
        st["td"] = st["td"] % 9 + 1
        prefix = f"{variant}|{instance}|{sym}|{iso(bar_dt)}"
        if st["td"] == 9:  # a TD9 completes: emit a signal
            sig = {"signal_type": rng.choice(["buy", "sell"]), "reason": "td9", "bar_dt": iso(bar_dt)}
            st["last_signal"] = sig
            events.append((sym, "signal", f"{prefix}|{sig['signal_type']}", {**sig, "price": st["price"]}))
        dull_top = rng.random() < 0.3
        if dull_top != st["dull_top"]:  # a state flips: emit a state_change
            old, new = str(st["dull_top"]).lower(), str(dull_top).lower()
            events.append((sym, "state_change", f"{prefix}|dull_top|{old}->{new}",
                           {"state_name": "dull_top", "old": st["dull_top"], "new": dull_top}))
            st["dull_top"] = dull_top
        if rng.random() < 0.1:  # alert key uses the alert's own timestamp (here: the bar's)
            events.append((sym, "alert", f"{prefix}|price_jump",
                           {"alert_type": "price_jump", "level": "warn", "price": st["price"]}))
        instruments[sym] = {
            "calc_bar_dt": iso(bar_dt), "td_count": st["td"],
            "status": {"dull_top": st["dull_top"], "dull_bottom": False, "div_top": False, "div_bottom": False},
            "last_signal": st["last_signal"], "last_price": st["price"],
        }
    payload = {"instruments": instruments, "positions_summary": {}, "orders_summary": {}}
    return events, payload


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="mysql://user@host:3306/db or postgres://user@host:5432/db")
    ap.add_argument("--variant", required=True)
    ap.add_argument("--instance", required=True)
    ap.add_argument("--bars", type=int, default=5, help="number of 1-minute bars to write")
    ap.add_argument("--start", help="first bar, UTC, e.g. 2024-05-01T01:30:00Z (default: --bars minutes ago)")
    ap.add_argument("--symbols", default="rb2405.SHFE,hc2405.SHFE", help="comma-separated vt_symbols")
    args = ap.parse_args()

    conn, (event_sql, snapshot_sql), naive_utc = connect(args.url)
    symbols = [s for s in args.symbols.split(",") if s]
    # Deterministic stand-in data: a rerun with the same --start rebuilds the same
    # event keys, and the idempotent inserts then add nothing.
    rng = random.Random(f"{args.variant}|{args.instance}")
    if args.start:
        first = datetime.fromisoformat(args.start.replace("Z", "+00:00")).astimezone(timezone.utc)
    else:  # the last N complete 1-minute bars
        first = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=args.bars)
    # MySQL DATETIME has no zone: send naive datetimes that are UTC.
    db_time = (lambda dt: dt.replace(tzinfo=None)) if naive_utc else (lambda dt: dt)
    state, new_events = {}, 0
    try:
        for i in range(args.bars):
            bar_dt = first + timedelta(minutes=i)
            # 1. Everything slow happens BEFORE the transaction.
            events, payload = simulate_bar(rng, args.variant, args.instance, symbols, bar_dt, state)
            written_at = db_time(datetime.now(timezone.utc))
            # 2. One short transaction: the bar's events, then the snapshot.
            with conn.cursor() as cur:
                for sym, etype, key, ev_payload in events:
                    cur.execute(event_sql, (args.variant, args.instance, sym, db_time(bar_dt), etype, key,
                                            written_at, json.dumps(ev_payload)))
                    new_events += cur.rowcount  # 0 when the key already existed
                cur.execute(snapshot_sql, (args.variant, args.instance, written_at, db_time(bar_dt),
                                           "1m", 1, json.dumps(payload)))
            conn.commit()
            print(f"bar {iso(bar_dt)}: {len(events)} event(s), snapshot upserted")
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.close()
    print(f"done: {args.bars} bar(s), {new_events} new event(s) inserted")


if __name__ == "__main__":
    main()
