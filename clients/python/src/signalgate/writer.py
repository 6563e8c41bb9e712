"""The strategy writer: docs/schema.md's writer contract on MySQL/MariaDB, PostgreSQL, SQLite.

* only the seed columns are written (never ``seq``, ``version``, ``pending``);
* events go in with exactly the documented idempotent SQL (``INSERT IGNORE`` /
  ``INSERT ... ON CONFLICT DO NOTHING`` without a conflict target), keyed by the
  design document's ``event_key`` formats (:mod:`signalgate.keys`);
* snapshots are upserted (``ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT (variant, instance_id)
  DO UPDATE``, never ``REPLACE``), at most once per ``snapshot_interval`` per
  ``(variant, instance_id)``: in between the latest value waits and wins, written by a
  background thread when the interval has passed, or by :meth:`Writer.flush` /
  :meth:`Writer.close`;
* every time is UTC (naive UTC for MySQL ``DATETIME(6)``, a UTC session on PostgreSQL,
  ``YYYY-MM-DD HH:MM:SS.ffffff`` text on SQLite);
* one short transaction per call, nothing slow inside it;
* a connection error (lost connection, server restart, lost commit acknowledgement) reconnects
  and retries the whole transaction; events cannot be duplicated by a retry because the key is
  the same and the insert idempotent, and a repeated snapshot upsert writes the same value.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type
from urllib.parse import unquote, urlparse

from .keys import alert_key, signal_key, state_change_key, to_utc

log = logging.getLogger("signalgate.writer")

SEED_EVENT = ("(variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, "
              "payload_json)")
SEED_SNAPSHOT = ("(variant, instance_id, updated_at, bar_dt, bar_interval, bar_window, "
                 "payload_json)")
MYSQL_EVENT = (f"INSERT IGNORE INTO monitor_signal_event {SEED_EVENT} "
               f"VALUES ({', '.join(['%s'] * 8)})")
# VALUES(col) works on MariaDB and MySQL (deprecated but supported on MySQL 8).
MYSQL_SNAPSHOT = (
    f"INSERT INTO monitor_signal_snapshot {SEED_SNAPSHOT} VALUES ({', '.join(['%s'] * 7)}) "
    "ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), bar_dt = VALUES(bar_dt), "
    "bar_interval = VALUES(bar_interval), bar_window = VALUES(bar_window), "
    "payload_json = VALUES(payload_json)")
# No conflict target: also right on a PostgreSQL event table converted to monthly partitions.
PG_EVENT = (f"INSERT INTO monitor_signal_event {SEED_EVENT} VALUES ({', '.join(['%s'] * 8)}) "
            "ON CONFLICT DO NOTHING")
PG_SNAPSHOT = (
    f"INSERT INTO monitor_signal_snapshot {SEED_SNAPSHOT} VALUES ({', '.join(['%s'] * 7)}) "
    "ON CONFLICT (variant, instance_id) DO UPDATE SET updated_at = excluded.updated_at, "
    "bar_dt = excluded.bar_dt, bar_interval = excluded.bar_interval, "
    "bar_window = excluded.bar_window, payload_json = excluded.payload_json")


@dataclass(frozen=True)
class _Dialect:
    """How one backend connects, writes and fails."""

    event_sql: str
    snapshot_sql: str
    time: Callable[[datetime], Any]  # an aware UTC datetime as the driver should bind it
    connect: Callable[[], Any]
    retryable: Tuple[Type[BaseException], ...]


def _naive(dt: datetime) -> datetime:
    return dt.replace(tzinfo=None)


def _sqlite_text(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _dialect(url: str) -> _Dialect:
    u = urlparse(url)
    if u.scheme in ("mysql", "mariadb"):
        import pymysql  # the [mysql] extra

        def connect_mysql() -> Any:
            return pymysql.connect(
                host=u.hostname or "127.0.0.1", port=u.port or 3306,
                user=unquote(u.username or "root"), password=unquote(u.password or ""),
                database=unquote(u.path.lstrip("/")) or None, autocommit=False,
                connect_timeout=10, init_command="SET time_zone = '+00:00'")

        retry = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
        return _Dialect(MYSQL_EVENT, MYSQL_SNAPSHOT, _naive, connect_mysql, retry)
    if u.scheme in ("postgres", "postgresql"):
        import psycopg  # the [postgres] extra

        def connect_pg() -> Any:
            conn = psycopg.connect(url, connect_timeout=10)
            # TIMESTAMPTZ and plain TIMESTAMP columns both get UTC, whatever PGTZ says.
            conn.execute("SET TIME ZONE 'UTC'")
            conn.commit()
            return conn

        retry = (psycopg.OperationalError, psycopg.InterfaceError)
        return _Dialect(PG_EVENT, PG_SNAPSHOT, lambda dt: dt, connect_pg, retry)
    if u.scheme == "sqlite":
        import sqlite3

        path = unquote(url.split("://", 1)[1].split("?", 1)[0]) or ":memory:"

        def connect_sqlite() -> Any:
            # One connection, used under the writer's lock from the caller's and the flusher's
            # threads.
            return sqlite3.connect(path, timeout=10, check_same_thread=False)

        to_q = lambda sql: sql.replace("%s", "?")  # noqa: E731
        return _Dialect(to_q(PG_EVENT), to_q(PG_SNAPSHOT), _sqlite_text, connect_sqlite,
                        (sqlite3.OperationalError,))
    raise ValueError(f"unsupported URL scheme {u.scheme!r}: mysql://, postgres:// or sqlite://")


@dataclass
class _Pending:
    """The latest snapshot of one instance not yet written."""

    row: Tuple[Any, ...]


class Writer:
    """Writes events and snapshots the way the gateway expects (see the module doc).

    :param url: ``mysql://user:pass@host:3306/db``, ``postgres://user@host:5432/db`` or
        ``sqlite:///path/to.db``.
    :param snapshot_interval: at most one snapshot upsert per ``(variant, instance_id)`` per
        this many seconds (0.5; the design document asks for 0.5-1 s); 0 writes each at once.
    :param retries: how many times a transaction is retried after a connection error.
    :param retry_delay: first pause (s) before a retry, doubled per retry.
    """

    def __init__(self, url: str, *, snapshot_interval: float = 0.5, retries: int = 5,
                 retry_delay: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._dialect = _dialect(url)
        self._interval = snapshot_interval
        self._retries = retries
        self._retry_delay = retry_delay
        self._clock = clock
        self._lock = threading.RLock()  # one transaction at a time on the one connection
        self._conn: Any = None
        self._last: Dict[Tuple[str, str], float] = {}  # when each instance was last upserted
        self._pending: Dict[Tuple[str, str], _Pending] = {}
        self._wake = threading.Condition(self._lock)
        self._closed = False
        #: Counters: transactions retried, snapshot upserts written, snapshots coalesced away.
        self.stats: Dict[str, int] = {"retries": 0, "snapshots_written": 0, "coalesced": 0}
        self._flusher = threading.Thread(target=self._flush_loop, name="signalgate-writer",
                                         daemon=True)
        self._flusher.start()

    # ---------------------------------------------------------------- events

    def event(self, variant: str, instance_id: str, vt_symbol: str, event_type: str,
              event_key: str, payload: Any, *, bar_dt: Optional[datetime] = None,
              created_at: Optional[datetime] = None) -> bool:
        """Inserts one event idempotently; True if it was new, False if the key existed."""
        return self.events([(variant, instance_id, vt_symbol, event_type, event_key, payload,
                             bar_dt, created_at)]) == 1

    def events(self, rows: Iterable[Sequence[Any]]) -> int:
        """Inserts several events in one transaction; returns how many were new.

        Each row is ``(variant, instance_id, vt_symbol, event_type, event_key, payload[, bar_dt
        [, created_at]])``. ``created_at`` defaults to now (UTC), fixed before the first try.
        """
        now = datetime.now(timezone.utc)
        t = self._dialect.time
        params = []
        for row in rows:
            variant, instance, symbol, etype, key, payload = row[:6]
            bar_dt = row[6] if len(row) > 6 else None
            created = row[7] if len(row) > 7 and row[7] is not None else now
            params.append((variant, instance, symbol, None if bar_dt is None else t(to_utc(bar_dt)),
                           etype, key, t(to_utc(created)), json.dumps(payload)))
        if not params:
            return 0

        def write(cur: Any) -> int:
            new = 0
            for p in params:
                cur.execute(self._dialect.event_sql, p)
                new += max(cur.rowcount, 0)  # 0 when the key already existed
            return new

        return self._transaction(write)

    def signal(self, variant: str, instance_id: str, vt_symbol: str, bar_dt: datetime,
               signal_type: str, payload: Optional[Dict[str, Any]] = None) -> str:
        """A ``signal`` event keyed ``{variant}|{instance}|{vt_symbol}|{bar_dt}|{signal_type}``;
        returns the key. ``payload`` defaults to ``{"signal_type": ...}``."""
        key = signal_key(variant, instance_id, vt_symbol, bar_dt, signal_type)
        body = {"signal_type": signal_type, **(payload or {})}
        self.event(variant, instance_id, vt_symbol, "signal", key, body, bar_dt=bar_dt)
        return key

    def state_change(self, variant: str, instance_id: str, vt_symbol: str, bar_dt: datetime,
                     state_name: str, old: Any, new: Any,
                     payload: Optional[Dict[str, Any]] = None) -> str:
        """A ``state_change`` event keyed ``...|{bar_dt}|{state_name}|{old}->{new}``."""
        key = state_change_key(variant, instance_id, vt_symbol, bar_dt, state_name, old, new)
        body = {"state_name": state_name, "old": old, "new": new, **(payload or {})}
        self.event(variant, instance_id, vt_symbol, "state_change", key, body, bar_dt=bar_dt)
        return key

    def alert(self, variant: str, instance_id: str, vt_symbol: str, timestamp: datetime,
              alert_type: str, payload: Optional[Dict[str, Any]] = None,
              bar_dt: Optional[datetime] = None) -> str:
        """An ``alert`` event keyed ``...|{timestamp}|{alert_type}`` (the alert's own time)."""
        key = alert_key(variant, instance_id, vt_symbol, timestamp, alert_type)
        body = {"alert_type": alert_type, **(payload or {})}
        self.event(variant, instance_id, vt_symbol, "alert", key, body, bar_dt=bar_dt,
                   created_at=timestamp)
        return key

    # ---------------------------------------------------------------- snapshots

    def snapshot(self, variant: str, instance_id: str, payload: Any, *,
                 bar_dt: Optional[datetime] = None, bar_interval: Optional[str] = None,
                 bar_window: Optional[int] = None) -> bool:
        """Upserts the instance's state, or keeps it as the latest pending value when the last
        upsert of this instance is younger than ``snapshot_interval``. True if written now."""
        t = self._dialect.time
        now = datetime.now(timezone.utc)
        row = (variant, instance_id, t(now), None if bar_dt is None else t(to_utc(bar_dt)),
               bar_interval, bar_window, json.dumps(payload))
        key = (variant, instance_id)
        with self._lock:
            if self._closed:
                raise RuntimeError("writer is closed")
            last = self._last.get(key)
            if last is not None and self._clock() - last < self._interval:
                if key in self._pending:
                    self.stats["coalesced"] += 1
                self._pending[key] = _Pending(row)
                self._wake.notify()
                return False
            self._pending.pop(key, None)
            self._upsert([row])
            return True

    def flush(self) -> int:
        """Writes every pending snapshot now; returns how many."""
        with self._lock:
            rows = [p.row for p in self._pending.values()]
            self._pending.clear()
            if rows:
                self._upsert(rows)
            return len(rows)

    def _upsert(self, rows: List[Tuple[Any, ...]]) -> None:
        def write(cur: Any) -> int:
            for row in rows:
                cur.execute(self._dialect.snapshot_sql, row)
            return len(rows)

        self._transaction(write)
        now = self._clock()
        for row in rows:
            self._last[(row[0], row[1])] = now
        self.stats["snapshots_written"] += len(rows)

    def _flush_loop(self) -> None:
        """Writes each pending snapshot once its instance's interval has passed."""
        with self._lock:
            while not self._closed:
                now = self._clock()
                due = [k for k in self._pending if now - self._last.get(k, 0.0) >= self._interval]
                if due:
                    rows = [self._pending.pop(k).row for k in due]
                    try:
                        self._upsert(rows)
                    except Exception:  # noqa: BLE001 - retried by the next wake-up
                        log.exception("signalgate writer: snapshot upsert failed")
                        for k, row in zip(due, rows):
                            self._pending.setdefault(k, _Pending(row))
                        self._wake.wait(self._retry_delay)
                    continue
                waits = [self._interval - (now - self._last.get(k, 0.0)) for k in self._pending]
                self._wake.wait(min(waits) if waits else None)

    # ---------------------------------------------------------------- transactions

    def _transaction(self, write: Callable[[Any], int]) -> int:
        """Runs ``write(cursor)`` in one transaction; reconnects and retries it on a
        connection error (safe: events are idempotent, snapshot upserts repeat a value)."""
        delay = self._retry_delay
        with self._lock:
            for attempt in range(self._retries + 1):
                try:
                    if self._conn is None:
                        self._conn = self._dialect.connect()
                    cur = self._conn.cursor()
                    try:
                        n = write(cur)
                    finally:
                        cur.close()
                    self._conn.commit()
                    return n
                except self._dialect.retryable as err:
                    self._drop_connection()
                    if attempt >= self._retries:
                        raise
                    self.stats["retries"] += 1
                    log.warning("signalgate writer: %s; retry %d in %.1f s", err, attempt + 1,
                                delay)
                    time.sleep(delay)  # backoff between reconnects, not synchronisation
                    delay *= 2
                except Exception:
                    self._rollback()
                    raise
        raise AssertionError("unreachable")

    def _rollback(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rollback()
        except Exception:  # noqa: BLE001 - the connection is unusable: reconnect next time
            self._drop_connection()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def close(self) -> None:
        """Writes the pending snapshots, stops the background thread, closes the connection."""
        with self._lock:
            if self._closed:
                return
            try:
                self.flush()
            finally:
                self._closed = True
                self._wake.notify_all()
        self._flusher.join(10)
        with self._lock:
            self._drop_connection()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
