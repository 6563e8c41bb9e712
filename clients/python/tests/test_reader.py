"""The reader against a real gateway process on MariaDB, PostgreSQL and SQLite: every event
once and in seq order through a gateway crash and restart, a SIGTERM (``server_shutdown``), a
slow-consumer cut-off, a database recreated (stream reset) and an expired token (a fresh one
from the token provider, the resume gap filled over REST with it); the opt-in ``batch``
(``event_batch``) and ``deltas`` (``snapshot_delta``) subscriptions through restarts."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List

import pytest
from harness import (
    DEADLINE,
    Gateway,
    TestDb,
    gateway_binary,
    gateway_head,
    until,
    wait_until,
)

from signalgate import BlockingReader, Reader, SignalgateError, Writer


def write(w: Writer, variant: str, tag: str, n: int, pad: str = "") -> List[str]:
    """Writes ``n`` events of ``variant`` in one transaction; returns their keys."""
    keys = [f"{variant}|i1|rb2405.SHFE|{tag}|{i}" for i in range(n)]
    rows = [(variant, "i1", "rb2405.SHFE", "signal", k, {"i": i, "pad": pad})
            for i, k in enumerate(keys)]
    assert w.events(rows) == n
    return keys


def run(body: Callable[[], Awaitable[None]], *cleanup: Callable[[], None]) -> None:
    """Runs the test's coroutine, then the clean-ups whatever happened."""
    try:
        asyncio.run(body())
    finally:
        for fn in cleanup:
            fn()


def assert_exactly_once(got: List[Dict[str, Any]], keys: List[str], what: str) -> None:
    seqs = [e["seq"] for e in got]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{what}: seqs not contiguous"
    got_keys = [e["event_key"] for e in got]
    assert len(set(got_keys)) == len(got_keys), f"{what}: a duplicate event"
    assert sorted(got_keys) == sorted(keys), f"{what}: lost or foreign events"


class KeepWriting:
    """Writes batches of 5 events of ``variant`` in a thread until stopped (keys: ``written``)."""

    def __init__(self, w: Writer, variant: str, written: List[str]) -> None:
        self._stop = threading.Event()

        def loop() -> None:
            n = 0
            while not self._stop.is_set():
                written.extend(write(w, variant, f"b{n}", 5))
                n += 1
                self._stop.wait(0.01)  # pacing of the load, not synchronisation

        self._thread = threading.Thread(target=loop)
        self._thread.start()

    def stop(self) -> None:
        """Stops writing and waits for the last batch to be committed."""
        self._stop.set()
        self._thread.join()


def test_exactly_once_through_crash_restart_and_sigterm(db: TestDb, tmp_path: Path) -> None:
    gw = Gateway(db.url, tmp_path / "gw.log").start()
    w = Writer(db.url)
    variant = "py_restart"
    written: List[str] = []

    async def body() -> None:
        got: List[Dict[str, Any]] = []
        async with Reader(gw.url, reconnect_delay=0.1, reconnect_max_delay=0.5) as r:
            await r.subscribe(variant, on_event=got.append, since_seq=0)
            writing = KeepWriting(w, variant, written)
            try:
                await until(lambda: len(got) >= 50, "the first events")
                gw.stop(signal.SIGKILL)  # a crash: the connection just ends
                await asyncio.to_thread(gw.start)
                await until(lambda: r.stats["connects"] >= 2, "the reconnect after the crash")
                count = len(got)
                await until(lambda: len(got) >= count + 50, "events after the restart")
                gw.stop(signal.SIGTERM)  # server_shutdown, then the connection closes
                await asyncio.to_thread(gw.start)
                await until(lambda: r.stats["connects"] >= 3, "the reconnect after SIGTERM")
                count = len(got)
                await until(lambda: len(got) >= count + 50, "events after the second start")
            finally:
                await asyncio.to_thread(writing.stop)
            await until(lambda: len(got) >= len(written), f"all {len(written)} events")
            assert_exactly_once(got, written, "through a crash and a SIGTERM")
            assert "server_shutdown" in r.disconnect_reasons

    run(body, w.close, gw.stop)


def test_slow_consumer_is_cut_off_and_resumes(db: TestDb, tmp_path: Path) -> None:
    # A small send buffer and a consumer whose callback blocks the event loop, so the socket
    # is not read: the gateway cuts it off (a server-side disconnect python-socketio never
    # recovers from by itself); the reader reconnects and resumes without loss. The resume ack
    # then holds hundreds of 16 KiB events (over 4 MiB, aiohttp's default message limit, which
    # once made the reader fail that resubscribe forever).
    gw = Gateway(db.url, tmp_path / "gw.log", "--socket-buffer", "8", "--ping-interval-ms",
                 "20000", "--ping-timeout-ms", "20000").start()
    w = Writer(db.url)
    variant = "py_slow"
    pad = "x" * 16 * 1024
    written: List[str] = []

    def cut_off() -> bool:
        return gw.metric("signalgate_slow_disconnects_total") >= 1

    def flood() -> None:
        n = 0
        while not cut_off():
            written.extend(write(w, variant, f"f{n}", 20, pad))
            n += 1
            assert n < 300, "never cut off (6,000 events of 16 KiB written)"

    async def body() -> None:
        got: List[Dict[str, Any]] = []
        stalled = threading.Event()

        def on_event(ev: Dict[str, Any]) -> None:
            got.append(ev)
            if not stalled.is_set():
                stalled.set()
                wait_until(cut_off, "the slow-consumer cut-off")  # blocks the loop on purpose

        async with Reader(gw.url, reconnect_delay=0.1) as r:
            await r.subscribe(variant, on_event=on_event)
            flooder = threading.Thread(target=flood)
            flooder.start()
            await asyncio.to_thread(flooder.join)
            written.extend(write(w, variant, "after", 5))
            await until(lambda: len(got) >= len(written), f"all {len(written)} events")
            assert_exactly_once(got, written, "through a slow-consumer cut-off")
            assert r.stats["disconnects"] >= 1 and r.stats["connects"] >= 2

    run(body, w.close, gw.stop)


def test_resume_ack_over_4_mib_is_taken(db: TestDb, tmp_path: Path) -> None:
    # 8 snapshots of ~640 KiB (every snapshot of the variant travels in the ack) and 300 events
    # of 16 KiB (the gateway bounds an ack's events to 1 MiB: the rest comes over REST): one ack
    # of over 5 MiB. aiohttp refuses websocket messages over 4 MiB by default; the reader lifts
    # the limit (max_message_size), else it would fail this subscribe on every reconnect, forever.
    gw = Gateway(db.url, tmp_path / "gw.log").start()
    variant = "py_big_ack"

    async def body() -> None:
        with Writer(db.url, snapshot_interval=0) as w:
            for i in range(8):
                w.snapshot(variant, f"inst{i}", {"i": i, "book": "y" * 640 * 1024})
            keys = write(w, variant, "big", 300, "x" * 16 * 1024)
        wait_until(lambda: gw.last_seq(variant) >= 300
                   and len(_rest_snapshots(gw, variant)) == 8, "the gateway to hold it all")
        got: List[Dict[str, Any]] = []
        snaps: List[Dict[str, Any]] = []
        async with Reader(gw.url, reconnect_delay=0.1) as r:
            ack = await asyncio.wait_for(
                r.subscribe(variant, on_event=got.append, on_snapshot=snaps.append, since_seq=0),
                DEADLINE)
            assert len(json.dumps(ack)) > 5 * 1024 * 1024, "an ack over 5 MiB"
            assert ack["truncated"] and len(ack["events"]) < 300, "events bounded to 1 MiB"
            assert len(snaps) == 8
            assert_exactly_once(got, keys, "a 5 MiB ack + the REST gap fill")
            assert r.stats["connects"] == 1, "taken on the first connection"
            assert r.stats["gap_fills"] == 1

    run(body, gw.stop)


def test_database_recreated_resets_the_stream(db: TestDb, tmp_path: Path) -> None:
    gw = Gateway(db.url, tmp_path / "gw.log").start()
    variant = "py_reset"

    async def body() -> None:
        got: List[Dict[str, Any]] = []
        resets: List[Dict[str, Any]] = []
        async with Reader(gw.url, reconnect_delay=0.1) as r:
            await r.subscribe(variant, on_event=got.append, on_reset=resets.append, since_seq=0)
            with Writer(db.url) as w:
                old = write(w, variant, "old", 20)
            await until(lambda: len(got) == 20, "the first history")
            assert_exactly_once(got, old, "first history")
            old_epoch = r.epoch(variant)
            gw.stop()
            db.recreate()  # an empty database: a new identity once migrated at start
            await asyncio.to_thread(gw.start)
            await until(lambda: resets, "the reset")
            await until(lambda: r.connected and r.last_seq(variant) == 0, "the fresh subscribe")
            assert r.epoch(variant) != old_epoch
            got.clear()
            with Writer(db.url) as w:
                new = write(w, variant, "new", 10)
            await until(lambda: len(got) == 10, "the new history")
            assert_exactly_once(got, new, "new history")
            assert got[0]["seq"] == 1, "the new history starts again at seq 1"
            assert len(resets) == 1 and resets[0]["variant"] == variant

    run(body, gw.stop)


def test_expired_token_reconnects_with_a_fresh_one_and_fills_the_gap(db: TestDb,
                                                                      tmp_path: Path) -> None:
    # --resume-cap 5: the resume after the expiry is truncated, so the gap is filled over REST,
    # which needs the (fresh) token as well.
    gw = Gateway(db.url, tmp_path / "gw.log", "--resume-cap", "5",
                 jwt_secret="py-client-test-secret-0123456789abcdef").start()
    variant = "py_auth"

    async def body() -> None:
        asked, release = asyncio.Event(), asyncio.Event()
        calls: List[float] = []

        async def token() -> str:
            calls.append(time.monotonic())
            if len(calls) == 1:
                return await asyncio.to_thread(gw.token, "2s")  # expires while subscribed
            if len(calls) == 2:  # the reconnect after auth_expired: the gap is written first
                asked.set()
                await release.wait()
            return await asyncio.to_thread(gw.token, "1h", "py_*")

        got: List[Dict[str, Any]] = []
        async with Reader(gw.url, token=token, reconnect_delay=0.1) as r:
            await r.subscribe(variant, on_event=got.append, since_seq=0)
            keys = await asyncio.to_thread(write, w, variant, "before", 3)
            await until(lambda: len(got) == 3, "the first events")
            await until(asked.is_set, "the reconnect after the token expired")
            assert r.disconnect_reasons[-1] == "auth_expired"
            keys += await asyncio.to_thread(write, w, variant, "gap", 40)
            fresh = await asyncio.to_thread(gw.token, "1h")

            async def numbered() -> bool:  # else the resume is not truncated
                return await gateway_head(gw.url, variant, fresh) >= 43

            await until(numbered, "the gateway to number the gap")
            release.set()
            await until(lambda: len(got) == 43, "the gap, filled over REST")
            assert r.stats["gap_fills"] >= 1
            keys += await asyncio.to_thread(write, w, variant, "after", 3)
            await until(lambda: len(got) == 46, "live events after the gap")
            assert_exactly_once(got, keys, "through a token expiry")
            with pytest.raises(SignalgateError) as refused:  # the token grants py_* only
                await r.subscribe("other_variant", on_event=got.append)
            assert refused.value.code == "forbidden"
            assert r.last_seq("other_variant") is None

    w = Writer(db.url)
    run(body, w.close, gw.stop)


def test_blocking_reader_iterates_events_and_follows_bars_across_a_restart(db: TestDb,
                                                                            tmp_path: Path) -> None:
    gw = Gateway(db.url, tmp_path / "gw.log", "--bars-poll-interval-ms", "100").start()
    variant = "py_blocking"

    def add_bar(minute: int) -> None:
        interval = "`interval`" if db.backend == "mysql" else '"interval"'  # a reserved word
        db.query(f"INSERT INTO dbbardata (symbol, exchange, datetime, {interval}, volume, "
                 "turnover, open_interest, open_price, high_price, low_price, close_price) VALUES "
                 f"('rb2405', 'SHFE', '2026-11-21 01:{minute:02d}:00', '1m', 10, 100, 5, "
                 f"1, 2, 0.5, {minute})")

    w = Writer(db.url)
    try:
        add_bar(0)
        keys = write(w, variant, "it", 5)
        with BlockingReader(gw.url, timeout=DEADLINE, reconnect_delay=0.1) as r:
            got = []
            for ev in r.events(variant, since_seq=0, idle_timeout=DEADLINE):
                got.append(ev)
                if len(got) == 5:
                    break  # ends the subscription
            assert_exactly_once(got, keys, "the iterator")
            assert r.last_seq(variant) == got[-1]["seq"]

            bars: List[Dict[str, Any]] = []
            first = r.subscribe_bars("rb2405.SHFE", "1m", bars.append)
            assert first is not None and first["close"] == 0
            gw.stop()  # SIGTERM: the reader follows the series again after the reconnect
            add_bar(1)
            gw.start()
            wait_until(lambda: len(bars) >= 2, "the next bar after the restart")
            assert [b["close"] for b in bars] == [0, 1], "each bar once, in time order"
    finally:
        w.close()
        gw.stop()


def test_resume_below_pruned_history_starts_over(db: TestDb, tmp_path: Path) -> None:
    # Retention deleted events the position still needs: the gateway answers history_pruned;
    # the reader reports it, calls on_reset and subscribes again from scratch.
    gw = Gateway(db.url, tmp_path / "gw.log").start()
    variant = "py_pruned"
    old = datetime.now(timezone.utc) - timedelta(days=3)

    def write_old(w: Writer, tag: str, n: int) -> None:
        assert w.events([(variant, "i1", "rb2405.SHFE", "signal", f"{variant}|{tag}|{i}", {},
                          None, old) for i in range(n)]) == n

    async def body() -> None:
        got: List[Dict[str, Any]] = []
        async with Reader(gw.url) as first:
            await first.subscribe(variant, on_event=got.append, since_seq=0)
            await asyncio.to_thread(write_old, w, "a", 5)
            await until(lambda: len(got) == 5, "the first events")
            position, epoch = first.last_seq(variant), first.epoch(variant)
        await asyncio.to_thread(write_old, w, "b", 10)
        await until(lambda: _head_at(gw, variant, 15), "the gateway to number the events")
        gw.stop()
        subprocess.run([gateway_binary(), "prune", "--events-older-than", "1d", "--database-url",
                        db.url], check=True, capture_output=True, timeout=DEADLINE)
        await asyncio.to_thread(gw.start)

        got.clear()
        resets: List[Dict[str, Any]] = []
        errors: List[SignalgateError] = []
        async with Reader(gw.url) as r:
            ack = await r.subscribe(variant, on_event=got.append, on_reset=resets.append,
                                    on_error=errors.append, since_seq=position, epoch=epoch)
            assert [e.code for e in errors] == ["history_pruned"]
            assert [x["reason"] for x in resets] == ["history_pruned"]
            assert ack["seq"] == 15 and got == [], "a fresh subscribe: first paint is REST's job"
            keys = await asyncio.to_thread(write, w, variant, "new", 3)
            await until(lambda: len(got) == 3, "live events after the fresh subscribe")
            assert_exactly_once(got, keys, "after history_pruned")
            assert got[0]["seq"] == 16

    w = Writer(db.url)
    run(body, w.close, gw.stop)


async def _head_at(gw: Gateway, variant: str, seq: int) -> bool:
    return await gateway_head(gw.url, variant) >= seq


def test_batch_and_plain_subscribers_get_every_event_once_through_restarts(db: TestDb,
                                                                           tmp_path: Path) -> None:
    # Two readers on one variant, one with batch=True (event_batch packets), one without
    # (event_new): both see the same events, once each, in seq order, through a crash and a
    # SIGTERM; the batch one keeps asking for batches after each reconnect.
    gw = Gateway(db.url, tmp_path / "gw.log").start()
    w = Writer(db.url)
    variant = "py_batch"
    written: List[str] = []

    async def body() -> None:
        batched: List[Dict[str, Any]] = []
        plain: List[Dict[str, Any]] = []

        async def fifty_more(what: str) -> None:
            count = len(batched)
            await until(lambda: len(batched) >= count + 50, what)

        async def reconnected(readers: List[Reader], connects: int) -> None:
            await until(lambda: all(r.stats["connects"] >= connects for r in readers),
                        "both readers back")

        opts: Dict[str, Any] = {"reconnect_delay": 0.1, "reconnect_max_delay": 0.5}
        async with Reader(gw.url, **opts) as rb, Reader(gw.url, **opts) as rp:
            await rb.subscribe(variant, on_event=batched.append, since_seq=0, batch=True)
            await rp.subscribe(variant, on_event=plain.append, since_seq=0)
            writing = KeepWriting(w, variant, written)
            try:
                for sig, connects in ((signal.SIGKILL, 2), (signal.SIGTERM, 3)):
                    await fifty_more("events before the stop")
                    batches = rb.stats["batches"]
                    assert batches >= 1, "event_batch packets, not event_new"
                    gw.stop(sig)
                    await asyncio.to_thread(gw.start)
                    await reconnected([rb, rp], connects)
                    await fifty_more("events after the restart")
                    assert rb.stats["batches"] > batches, "batch: true sent again on resubscribe"
            finally:
                await asyncio.to_thread(writing.stop)
            await until(lambda: len(batched) >= len(written) and len(plain) >= len(written),
                        f"all {len(written)} events on both readers")
            assert_exactly_once(batched, written, "batch subscriber")
            assert_exactly_once(plain, written, "plain subscriber")
            assert [e["seq"] for e in batched] == [e["seq"] for e in plain]
            assert rp.stats["batches"] == 0, "no event_batch without batch: true"
            assert rb.stats["batches"] < len(batched) // 2, "packets hold several events"

    run(body, w.close, gw.stop)


def _rest_snapshots(gw: Gateway, variant: str) -> Dict[str, Dict[str, Any]]:
    """``GET /api/snapshot/{variant}``: instance_id -> snapshot (empty on 404)."""
    try:
        with urllib.request.urlopen(f"{gw.url}/api/snapshot/{variant}", timeout=5) as res:
            page = json.load(res)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return {}
        raise
    return {s["instance_id"]: s for s in page["snapshots"]}


def test_deltas_subscriber_rebuilds_each_snapshot_from_merge_patches(db: TestDb,
                                                                     tmp_path: Path) -> None:
    # A multi-instrument snapshot per instance, one instrument changed (or removed, or added)
    # per upsert: the gateway sends snapshot_delta merge patches, the (blocking) reader applies
    # them and hands on_snapshot the full snapshot, equal to what REST serves; after a SIGTERM
    # restart the resubscribe asks for deltas again and they keep coming.
    gw = Gateway(db.url, tmp_path / "gw.log").start()
    variant = "py_deltas"
    instruments = [f"s{i:02d}.SHFE" for i in range(20)]

    def payload(step: int) -> Dict[str, Any]:
        body: Dict[str, Any] = {
            s: {"price": 3500.0 + i, "status": {"dull_top": False, "td_count": i},
                "history": [1, 2, 3]}
            for i, s in enumerate(instruments)}
        body[instruments[step % 20]]["price"] += step  # one price changes
        body[instruments[(step + 1) % 20]]["status"]["dull_top"] = step % 2 == 0
        body[instruments[(step + 2) % 20]]["history"] = [step]  # an array replaced whole
        del body[instruments[(step + 3) % 20]]  # a member removed (null in the patch)
        return {"instruments": body, "positions_summary": {"count": step}}

    w = Writer(db.url, snapshot_interval=0)  # every upsert at once: no coalescing here
    delivered: Dict[str, Dict[str, Any]] = {}
    lock = threading.Lock()

    def on_snapshot(s: Dict[str, Any]) -> None:  # in the reader's thread
        with lock:
            delivered[s["instance_id"]] = s

    def db_version(instance: str) -> int:
        rows = db.query("SELECT version FROM monitor_signal_snapshot WHERE variant = "
                        f"'{variant}' AND instance_id = '{instance}'")
        return int(rows[0][0])

    def upsert_and_check(instance: str, step: int) -> None:
        w.snapshot(variant, instance, payload(step), bar_interval="1m", bar_window=1)
        version = db_version(instance)

        def same() -> bool:
            rest = _rest_snapshots(gw, variant).get(instance)
            with lock:
                got = delivered.get(instance)
            return (rest is not None and rest["version"] == version and got == rest)

        wait_until(same, f"{instance} v{version} delivered and equal to REST")

    try:
        for inst in ("i1", "i2"):
            w.snapshot(variant, inst, payload(0))
        wait_until(lambda: len(_rest_snapshots(gw, variant)) == 2, "the first snapshots")
        with BlockingReader(gw.url, timeout=DEADLINE, reconnect_delay=0.1) as br:
            r = br.reader
            ack = br.subscribe(variant, on_snapshot=on_snapshot, deltas=True)
            assert len(ack["snapshots"]) == 2
            steps = 0
            for step in range(1, 11):
                for inst in ("i1", "i2"):
                    upsert_and_check(inst, step)
                    steps += 1
            assert r.stats["deltas"] == steps, "every change came as a delta"
            assert r.stats["delta_misses"] == 0
            assert delivered["i1"]["payload"] == payload(10)

            gw.stop()  # SIGTERM: the reconnect resubscribes with deltas: true
            gw.start()
            wait_until(lambda: r.stats["connects"] >= 2 and r.connected, "the reconnect")
            for step in range(11, 16):
                upsert_and_check("i1", step)
            assert r.stats["deltas"] == steps + 5, "deltas again after the resubscribe"
            assert r.stats["delta_misses"] == 0
            assert delivered["i1"]["payload"] == payload(15)
    finally:
        w.close()
        gw.stop()
