#!/usr/bin/env python3
"""Throughput and CPU of the Python reader: ``--rate`` events/s of one variant to one
consumer for ``--seconds``, through a gateway restart (SIGKILL or SIGTERM) halfway.

Reports events written and received, lost, duplicated, out of order (all must be 0), the
reader's CPU time (its event-loop thread: socket, decoding, ordering, callbacks) per event,
and the delay from the write to the callback. Uses the test harness (a fresh database, the
real gateway binary: ``SIGNALGATE_BIN`` or ``$CARGO_TARGET_DIR/debug/signalgate``)::

    SIGNALGATE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306 \\
        python3 clients/python/bench/reader_bench.py --backend mysql --rate 1000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import Gateway, TestDb, until  # noqa: E402

from signalgate import Reader, Writer  # noqa: E402

BATCH_EVERY = 0.01  # seconds between write transactions: rate/100 events each


def writer_loop(w: Writer, variant: str, rate: int, seconds: float, keys: List[str],
                sent_at: Dict[str, float]) -> None:
    """Writes ``rate`` events/s on a fixed schedule (catching up after a stall)."""
    per_batch = max(1, round(rate * BATCH_EVERY))
    start = time.monotonic()
    n = 0
    while n < rate * seconds:
        due = start + (n / rate)
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)  # pacing the load
        batch = [f"{variant}|b|rb2405.SHFE|{n + i}" for i in range(per_batch)]
        t = time.time()
        w.events([(variant, "b", "rb2405.SHFE", "signal", k, {"n": n + i})
                  for i, k in enumerate(batch)])
        for k in batch:
            sent_at[k] = t
        keys.extend(batch)
        n += per_batch


async def run(args: argparse.Namespace, db: TestDb, tmp: Path) -> None:
    gw = Gateway(db.url, tmp / "gw.log").start()
    w = Writer(db.url)
    variant = "bench"
    keys: List[str] = []
    sent_at: Dict[str, float] = {}
    got: List[Any] = []
    delays: List[float] = []

    def on_event(ev: Dict[str, Any]) -> None:
        got.append((ev["seq"], ev["event_key"]))
        t = sent_at.get(ev["event_key"])
        if t is not None:
            delays.append(time.time() - t)

    try:
        async with Reader(gw.url, reconnect_delay=0.1, reconnect_max_delay=1.0) as r:
            await r.subscribe(variant, on_event=on_event, since_seq=0)
            cpu0, wall0 = time.thread_time(), time.monotonic()
            writer = threading.Thread(target=writer_loop,
                                      args=(w, variant, args.rate, args.seconds, keys, sent_at))
            writer.start()
            await asyncio.sleep(args.seconds / 2)  # the load runs; restart halfway
            sig = signal.SIGKILL if args.restart == "kill" else signal.SIGTERM
            gw.stop(sig)
            await asyncio.to_thread(gw.start)
            await asyncio.to_thread(writer.join)
            await until(lambda: len(got) >= len(keys), "every event", timeout=120)
            cpu, wall = time.thread_time() - cpu0, time.monotonic() - wall0
            seqs = [s for s, _ in got]
            received = [k for _, k in got]
            lost = len(set(keys) - set(received))
            dup = len(received) - len(set(received))
            disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
            delays.sort()
            print(f"backend={db.backend} rate={args.rate}/s seconds={args.seconds} "
                  f"restart={args.restart}")
            print(f"written={len(keys)} received={len(received)} lost={lost} duplicate={dup} "
                  f"out_of_order={disorder} reconnects={r.stats['connects'] - 1}")
            print(f"reader cpu={cpu:.2f} s over {wall:.1f} s wall: "
                  f"{cpu / max(1, len(received)) * 1e6:.0f} us/event "
                  f"({cpu / wall * 100:.0f}% of one core)")
            p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99)]
            print(f"write->callback delay p50={p50 * 1000:.0f} ms p99={p99 * 1000:.0f} ms "
                  f"max={delays[-1] * 1000:.0f} ms (the restart included)")
            if lost or dup or disorder:
                sys.exit("FAILED: lost, duplicate or out-of-order events")
    finally:
        w.close()
        gw.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["mysql", "postgres", "sqlite"], default="mysql")
    ap.add_argument("--rate", type=int, default=1000, help="events per second")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--restart", choices=["kill", "term"], default="kill")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = TestDb(args.backend, Path(tmp))
        try:
            asyncio.run(run(args, db, Path(tmp)))
        finally:
            db.drop()


if __name__ == "__main__":
    main()
