"""A blocking wrapper of :class:`~signalgate.Reader` for scripts and notebooks.

The reader runs in its own thread with its own event loop; callbacks are called in that
thread, one at a time, in seq order. :meth:`BlockingReader.events` turns a subscription into
an iterator instead::

    with BlockingReader("http://127.0.0.1:3000", token=my_token) as r:
        for ev in r.events("trend_follow_v1"):
            print(ev["seq"], ev["event_type"], ev["payload"])
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Coroutine, Iterator, Optional, TypeVar

from .reader import Reader
from .types import Ack, Bar, Event

T = TypeVar("T")


class BlockingReader:
    """:class:`~signalgate.Reader` behind plain method calls; same keyword arguments.

    :param timeout: seconds each call waits for its answer (a first ``subscribe`` waits for the
        gateway to answer, including the reconnects and a gap fill it may need first).
    """

    def __init__(self, url: str, *, timeout: float = 60.0, **options: Any) -> None:
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="signalgate-reader",
                                        daemon=True)
        self._thread.start()

        async def make() -> Reader:
            return await Reader(url, **options).start()

        self.reader: Reader = self._run(make())

    def _run(self, coro: Coroutine[Any, Any, T], timeout: Optional[float] = None) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(self._timeout if timeout is None else timeout)

    def subscribe(self, variant: str, **options: Any) -> Ack:
        """:meth:`Reader.subscribe` (same keywords, ``batch=True`` and ``deltas=True``
        included): callbacks run in the reader's thread."""
        return self._run(self.reader.subscribe(variant, **options))

    def unsubscribe(self, variant: str) -> None:
        """:meth:`Reader.unsubscribe`."""
        self._run(self.reader.unsubscribe(variant))

    def subscribe_bars(self, vt_symbol: str, interval: str, on_bar: Any) -> Optional[Bar]:
        """:meth:`Reader.subscribe_bars`."""
        return self._run(self.reader.subscribe_bars(vt_symbol, interval, on_bar))

    def events(self, variant: str, *, idle_timeout: Optional[float] = None,
               **options: Any) -> Iterator[Event]:
        """Subscribes and yields each event once, in seq order. Ends after ``idle_timeout``
        seconds without an event (never when ``None``); unsubscribes when the loop ends.
        ``options`` are :meth:`Reader.subscribe`'s (e.g. ``since_seq=0, batch=True``)."""
        items: "queue.Queue[Event]" = queue.Queue()
        self.subscribe(variant, on_event=items.put, **options)
        try:
            while True:
                try:
                    yield items.get(timeout=idle_timeout)
                except queue.Empty:
                    return
        finally:
            if not self._loop.is_closed():
                self.unsubscribe(variant)

    def last_seq(self, variant: str) -> Optional[int]:
        """:meth:`Reader.last_seq`."""
        return self.reader.last_seq(variant)

    def close(self) -> None:
        """Closes the reader and stops its thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self.reader.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout)
            self._loop.close()

    def __enter__(self) -> BlockingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
