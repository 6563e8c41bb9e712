"""Test and benchmark helpers: fresh databases per test, a real gateway process, waits.

Backends: ``mysql`` and ``postgres`` read the server URLs from ``SIGNALGATE_TEST_MYSQL_URL`` /
``SIGNALGATE_TEST_POSTGRES_URL`` (a missing URL fails the test, nothing is skipped); each test
gets its own ``sgt_py_<random>`` database, dropped at the end. ``sqlite`` uses a file in the
test's temporary directory. The gateway binary is ``SIGNALGATE_BIN`` (default:
``$CARGO_TARGET_DIR/debug/signalgate`` or the repository's ``target/debug/signalgate``).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Awaitable, Callable, List, Optional, Union
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[3]
BACKENDS = ["mysql", "postgres", "sqlite"]
DEADLINE = 30.0  # seconds: generous, so a loaded CI machine does not fail a correct test


def gateway_binary() -> str:
    explicit = os.environ.get("SIGNALGATE_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    path = target / "debug" / "signalgate"
    if not path.exists():
        raise RuntimeError(f"no gateway binary at {path}: run `cargo build` or set SIGNALGATE_BIN")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_url(backend: str) -> str:
    var = f"SIGNALGATE_TEST_{backend.upper()}_URL"
    url = os.environ.get(var)
    if not url:
        raise RuntimeError(f"{var} is not set: the {backend} tests need it (see run-tests.sh)")
    return url.rstrip("/")


class TestDb:
    """A fresh database of one backend; ``url`` serves both the gateway and the writer."""

    __test__ = False  # not a pytest test class

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.name = f"sgt_py_{secrets.token_hex(6)}"
        if backend == "sqlite":
            self.path = tmp / f"{self.name}.db"
            self.url = f"sqlite://{self.path}?mode=rwc"
        else:
            self.url = f"{server_url(backend)}/{self.name}"
        self.create()

    def _admin(self, sql: str) -> None:
        if self.backend == "mysql":
            import pymysql

            u = urlparse(server_url("mysql"))
            conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root",
                                   password=u.password or "", autocommit=True)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql.replace('"', "`"))
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(server_url("postgres") + "/postgres", autocommit=True) as conn:
                conn.execute(sql)

    def create(self) -> None:
        if self.backend != "sqlite":
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        elif self.backend == "mysql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"')
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def recreate(self) -> None:
        """Drops and creates the database again: an empty one, a new identity once migrated."""
        self.drop()
        self.create()

    def migrate(self) -> None:
        subprocess.run([gateway_binary(), "migrate", "--database-url", self.url], check=True,
                       stdout=subprocess.DEVNULL, timeout=DEADLINE)

    def query(self, sql: str) -> List[Any]:
        """Rows of one statement (no parameters), committed; for set-up and assertions."""
        if self.backend == "sqlite":
            import sqlite3

            with sqlite3.connect(self.path) as conn:
                return list(conn.execute(sql))
        if self.backend == "mysql":
            import pymysql

            u = urlparse(self.url)
            conn = pymysql.connect(host=u.hostname, port=u.port or 3306, user=u.username or "root",
                                   password=u.password or "", database=self.name, autocommit=True)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return list(cur.fetchall() if cur.description else [])
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url) as conn:
            cur = conn.execute(sql)
            return list(cur.fetchall() if cur.description else [])


class Gateway:
    """A real ``signalgate serve`` process on a fixed port (kept across restarts)."""

    def __init__(self, db_url: str, log: Path, *extra: str, jwt_secret: Optional[str] = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        self.jwt_secret = jwt_secret
        auth = ["--jwt-secret", jwt_secret] if jwt_secret else []
        self.args = [gateway_binary(), "serve", "--listen", f"127.0.0.1:{self.port}",
                     "--database-url", db_url, "--poll-interval-ms", "50",
                     "--shutdown-timeout", "5s", *auth, *extra]
        self.log = log
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> Gateway:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: self.ready(), "the gateway to be ready")
        return self

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({self.proc.returncode}); see {self.log}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as res:
                return res.status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Sends ``sig`` (SIGKILL: a crash; SIGTERM: ``server_shutdown``) and waits for the exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(DEADLINE)
        self.proc = None

    def metric(self, name: str) -> float:
        """The sum of a Prometheus counter over its labels (0 when absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as res:
            text = res.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def last_seq(self, variant: str) -> int:
        """The variant's event position as the gateway holds it (``/api/overview``; 0: none)."""
        with urllib.request.urlopen(f"{self.url}/api/overview", timeout=5) as res:
            page = json.load(res)
        return max((int(v["last_seq"]) for v in page["variants"] if v["variant"] == variant),
                   default=0)

    def token(self, ttl: str = "1h", variants: str = "*") -> str:
        assert self.jwt_secret
        return subprocess.run(
            [gateway_binary(), "token", "--jwt-secret", self.jwt_secret, "--sub", "pytest",
             "--variants", variants, "--ttl", ttl],
            check=True, capture_output=True, text=True, timeout=DEADLINE).stdout.strip()


async def gateway_head(url: str, variant: str, token: Optional[str] = None) -> int:
    """The gateway's live position of ``variant``: the ``seq`` of a raw subscribe ack."""
    import socketio

    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, transports=["websocket"], auth={"token": token} if token else None)
    try:
        ack = await sio.call("subscribe", {"variant": variant}, timeout=DEADLINE)
        return int(ack["seq"]) if isinstance(ack, dict) and ack.get("ok") else -1
    finally:
        await sio.disconnect()


def wait_until(cond: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Polls ``cond`` until it is truthy; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


async def until(cond: Callable[[], Union[Any, Awaitable[Any]]], what: str,
                timeout: float = DEADLINE) -> Any:
    """``wait_until`` for coroutines: yields to the loop between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)
