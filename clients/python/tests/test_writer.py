"""The writer on MariaDB, PostgreSQL and SQLite (tables made by ``signalgate migrate``): the
documented event keys, idempotent inserts through reruns, a lost commit acknowledgement and a
connection killed by the server, UTC times, and snapshot upserts coalesced per instance."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import DEADLINE, TestDb, wait_until

from signalgate import Writer

BAR = datetime(2026, 11, 21, 1, 45, tzinfo=timezone.utc)


def as_utc(value: Any) -> datetime:
    """A time read back from any backend, as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class LostAck:
    """A connection whose commit succeeds but reports a connection error, while ``errors``
    holds one (each is raised once)."""

    def __init__(self, conn: Any, errors: list) -> None:
        self._conn, self._errors = conn, errors

    def commit(self) -> None:
        self._conn.commit()
        if self._errors:
            raise self._errors.pop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def kill_connection(db: TestDb, w: Writer) -> None:
    """Ends the writer's connection from the server side (MariaDB, PostgreSQL)."""
    conn = w._conn  # noqa: SLF001 - the test reaches in to cut it
    if db.backend == "mysql":
        db.query(f"KILL {conn.thread_id()}")
    else:
        db.query(f"SELECT pg_terminate_backend({conn.info.backend_pid})")


def test_events_are_idempotent_through_reruns_and_retries(db: TestDb) -> None:
    db.migrate()
    w = Writer(db.url, retry_delay=0.01)
    try:
        sym = "rb2405.SHFE"
        keys = [
            w.signal("py_w", "i1", sym, BAR, "buy", {"price": 3631.0}),
            w.state_change("py_w", "i1", sym, BAR, "dull_top", False, True),
            w.alert("py_w", "i1", sym, BAR, "price_jump", {"level": "warn"}),
        ]
        assert keys == [
            "py_w|i1|rb2405.SHFE|2026-11-21T01:45:00Z|buy",
            "py_w|i1|rb2405.SHFE|2026-11-21T01:45:00Z|dull_top|false->true",
            "py_w|i1|rb2405.SHFE|2026-11-21T01:45:00Z|price_jump",
        ]
        # A rerun of the same bar rebuilds the same keys: nothing is added.
        w.signal("py_w", "i1", sym, BAR, "buy", {"price": 3631.0})
        assert w.events([("py_w", "i1", sym, "signal", keys[0], {}, BAR)]) == 0

        # A lost commit acknowledgement: the retry inserts the same key again, which adds nothing.
        errors = [w._dialect.retryable[0]("lost connection during commit")]  # noqa: SLF001
        real = w._dialect  # noqa: SLF001
        w._drop_connection()  # noqa: SLF001
        w._dialect = dataclasses.replace(real, connect=lambda: LostAck(real.connect(), errors))
        keys.append(w.signal("py_w", "i1", sym, BAR, "sell"))
        assert w.stats["retries"] == 1
        w._dialect = real  # noqa: SLF001

        if db.backend != "sqlite":  # a server-side kill needs a server
            kill_connection(db, w)
            keys.append(w.signal("py_w", "i1", "hc2405.SHFE", BAR, "buy"))
            assert w.stats["retries"] == 2

        rows = db.query("SELECT event_key, created_at, seq FROM monitor_signal_event")
        assert sorted(r[0] for r in rows) == sorted(keys), "each key exactly once"
        assert all(r[2] is None for r in rows), "seq is left to the gateway"
        alert = next(r for r in rows if r[0] == keys[2])
        assert as_utc(alert[1]) == BAR, "the alert's own time, in UTC"
    finally:
        w.close()


def test_snapshot_upserts_are_coalesced_per_instance(db: TestDb) -> None:
    db.migrate()
    interval = 0.3

    def row(instance: str) -> Any:
        rows = db.query("SELECT version, payload_json FROM monitor_signal_snapshot "
                        f"WHERE variant = 'py_s' AND instance_id = '{instance}'")
        if not rows:
            return None
        payload = rows[0][1]
        return rows[0][0], json.loads(payload) if isinstance(payload, (str, bytes)) else payload

    w = Writer(db.url, snapshot_interval=interval)
    try:
        started = time.monotonic()
        now = [w.snapshot("py_s", "a", {"n": n}, bar_dt=BAR, bar_interval="1m", bar_window=1)
               for n in range(200)]
        assert w.snapshot("py_s", "b", {"n": 0}) is True, "each instance has its own interval"
        assert now[0] is True and w.stats["coalesced"] >= 1
        # The latest value wins, written by the background flush once the interval passed.
        wait_until(lambda: (row("a") or (0, {}))[1] == {"n": 199}, "the latest snapshot of a")
        elapsed = time.monotonic() - started
        version, _ = row("a")
        assert version <= 2 + elapsed / interval, f"{version} upserts in {elapsed:.2f} s"
        assert w.stats["snapshots_written"] < 20

        w.snapshot("py_s", "a", {"n": 500})  # pending: the interval has not passed
    finally:
        w.close()  # the final flush writes it
    assert row("a")[1] == {"n": 500}
    assert row("b") == (1, {"n": 0})


def test_vnpy_example_publishes_snapshots_and_events(db: TestDb) -> None:
    db.migrate()
    example = Path(__file__).resolve().parents[1] / "examples" / "vnpy_strategy.py"
    for _ in range(2):  # a rerun of the same bars adds no event
        subprocess.run([sys.executable, str(example), "--url", db.url, "--bars", "80"],
                       check=True, capture_output=True, timeout=DEADLINE)
    events = db.query("SELECT event_type, event_key FROM monitor_signal_event")
    assert {"signal", "state_change"} <= {e[0] for e in events}
    assert len({e[1] for e in events}) == len(events)
    snaps = db.query("SELECT instance_id, payload_json FROM monitor_signal_snapshot")
    assert [s[0] for s in snaps] == ["inst-01"]
    payload = snaps[0][1]
    payload = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    assert set(payload["instruments"]) == {"rb2405.SHFE", "hc2405.SHFE"}
