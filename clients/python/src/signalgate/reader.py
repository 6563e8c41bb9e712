"""The asyncio reader: the JS helper's guarantees (``clients/js/signalgate-client.js``) in Python.

For each subscribed variant the callbacks see **every event once, in ascending ``seq``**,
across anything that ends a connection:

* the reader runs its **own reconnect loop** (python-socketio does not reconnect after a
  server-side disconnect: a slow consumer cut off, ``auth_expired``, ``server_shutdown``);
  every connection is a fresh ``socketio.AsyncClient`` with ``reconnection=False``, the
  websocket transport only (no silent long-polling fallback) and the current token of the
  token provider;
* on every connect it resubscribes with ``since_seq`` (the last seq seen) and ``epoch``;
* a truncated replay is completed over REST (``/api/events``, same token) before anything
  newer is delivered; a failed gap fill never moves the position past the gap;
* ``stream_reset``, an ack with ``reset: true`` and ``history_pruned`` forget the position,
  call ``on_reset`` and subscribe again from scratch;
* python-socketio runs each incoming message in its own task: the reader's handlers only put
  the message on one queue, and one worker task applies them in arrival order and calls the
  callbacks (plain functions or coroutines) one at a time, so callbacks never overlap.

Two opt-in options of ``subscribe`` (docs/realtime.md, "Batched events and snapshot deltas")
are sent in every subscribe of that subscription, resubscribes after reconnects included:

* ``batch=True``: live events come as ``event_batch {variant, events}`` packets; the worker
  unpacks each into the same ``on_event`` calls as ``event_new`` (in order, deduplicated by
  ``seq``, buffered while an ack is applied). ``stats["batches"]`` counts the packets.
* ``deltas=True``: snapshot changes come as ``snapshot_delta {variant, instance_id, version,
  base_version, patch}``, an RFC 7386 merge patch over the whole snapshot document. The reader
  keeps the last snapshot it delivered per instance; when its ``version`` is ``base_version``
  it applies the patch (:func:`~signalgate.merge_patch`) and hands ``on_snapshot`` the full
  result, exactly as a ``snapshot_update`` would carry it (unchanged parts are shared with the
  previous snapshot: treat snapshots as read-only). A delta whose base it does not hold makes
  it resubscribe from its position: the ack carries full snapshots. ``stats["deltas"]`` counts
  the deltas applied, ``stats["delta_misses"]`` those whose base was not held.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import quote

import aiohttp
import socketio

from .patch import merge_patch
from .types import Ack, Bar, Event

log = logging.getLogger("signalgate")

#: A token, or a function (plain or async) returning the current token; called on every connect
#: and every REST gap fill, so it can hand out a fresh token after ``auth_expired``.
TokenSource = Union[None, str, Callable[[], Union[Optional[str], Awaitable[Optional[str]]]]]
#: A callback: a plain function or a coroutine function of one argument.
Callback = Optional[Callable[[Any], Any]]

PAGE_LIMIT = 5000  # events per REST page of a gap fill (the API's maximum)
RETRYABLE = frozenset({"unavailable", "busy"})  # subscribe refusals that pass by themselves


class SignalgateError(Exception):
    """A protocol error (``code`` as in docs/realtime.md) or one of the reader's own
    (``gap_fill_failed``, ``timeout``, ``closed``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_ack(cls, ack: Any, fallback: str) -> SignalgateError:
        err = ack.get("error") if isinstance(ack, dict) else None
        if not isinstance(err, dict):
            return cls("error", fallback)
        return cls(str(err.get("code", "error")), str(err.get("message", fallback)))


@dataclass(eq=False)
class _Sub:
    """One followed variant."""

    variant: str
    instance_id: Optional[str]
    vt_symbols: Optional[List[str]]
    callbacks: Dict[str, Callback]
    last_seq: Optional[int]
    first: "asyncio.Future[Ack]"
    epoch: Optional[str] = None
    versions: Dict[str, int] = field(default_factory=dict)
    attempt: int = 0
    syncing: bool = True
    buffer: List[Event] = field(default_factory=list)
    gap_retries: int = 0
    retry: Optional[asyncio.TimerHandle] = None
    batch: bool = False  # ask for event_batch packets
    deltas: bool = False  # ask for snapshot_delta merge patches
    held: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # with deltas: instance -> last


@dataclass(eq=False)
class _Bars:
    """One followed bar series."""

    vt_symbol: str
    interval: str
    on_bar: Callback
    first: "asyncio.Future[Optional[Bar]]"
    last: Optional[Dict[str, Any]] = None


def _by_seq(events: Any) -> List[Event]:
    good: List[Any] = [e for e in (events or [])
                       if isinstance(e, dict) and isinstance(e.get("seq"), int)]
    return sorted(good, key=lambda e: int(e["seq"]))


async def _call(fn: Callback, arg: Any) -> None:
    """Calls a user callback; its exception is logged, never allowed to corrupt the state."""
    if fn is None:
        return
    try:
        result = fn(arg)
        if inspect.isawaitable(result):
            await result
    except Exception:  # noqa: BLE001 - a callback's bug must not stop delivery
        log.exception("signalgate callback %r failed", fn)


class Reader:
    """Follows variants of one gateway. Use it as ``async with Reader(url) as r: ...``.

    :param url: the gateway's base URL (Socket.IO at ``/socket.io/``, REST under ``/api``).
    :param token: a token, or a function (plain or async) returning one, called on every
        connect and gap fill: return a fresh token there when tokens expire.
    :param rest_url: the REST base if it differs from ``url``.
    :param reconnect_delay: first delay (s) of the reconnect loop after a failed or lost
        connection, doubled per failure up to ``reconnect_max_delay``; reset by a connect.
        After ``server_shutdown`` the reader reconnects at once.
    :param on_shutdown: told ``{"reconnect", "reason"}`` when the server announces its shutdown.
    :param on_connect: called with the connection's number after each connect.
    :param on_disconnect: called with the reason after each lost connection.
    :param ack_timeout: seconds to wait for an ``unsubscribe`` ack and for a connect.
    :param max_message_size: the largest websocket message accepted, in bytes (``0``: no
        limit, the default, as in browsers). A subscribe ack holds every snapshot of the variant
        (and up to 1 MiB of events), so it can be many megabytes; aiohttp's own default (4 MiB)
        made such a reader fail the same resubscribe forever.
    """

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource = None,
        rest_url: Optional[str] = None,
        reconnect_delay: float = 0.5,
        reconnect_max_delay: float = 10.0,
        on_shutdown: Callback = None,
        on_connect: Callback = None,
        on_disconnect: Callback = None,
        ack_timeout: float = 10.0,
        max_message_size: int = 0,
    ) -> None:
        self.url = url.rstrip("/")
        self._rest = (rest_url or url).rstrip("/")
        self._token_source = token
        self._delay = (reconnect_delay, reconnect_max_delay)
        self._hooks = {"shutdown": on_shutdown, "connect": on_connect, "disconnect": on_disconnect}
        self._ack_timeout = ack_timeout
        self._ws_options = {"max_msg_size": max(0, int(max_message_size))}
        self._subs: Dict[str, _Sub] = {}
        self._seqs: Dict[str, int] = {}  # variant -> last seq seen (kept after unsubscribe)
        self._bars: Dict[Tuple[str, str], _Bars] = {}
        self._queue: "asyncio.Queue[Tuple[Any, ...]]"  # made by start(), in the running loop
        self._sio: Optional[socketio.AsyncClient] = None
        self._gen = 0  # number of the current connection; messages of older ones are dropped
        self._connected = False
        self._closed = False
        self._session: Optional[aiohttp.ClientSession] = None
        self._tasks: List["asyncio.Task[None]"] = []
        #: Counters for monitoring and tests: connects, disconnects, gap fills, resets,
        #: ``event_batch`` packets received, ``snapshot_delta`` s applied and those whose base
        #: version was not held (each makes the reader resubscribe).
        self.stats: Dict[str, int] = {"connects": 0, "disconnects": 0, "gap_fills": 0, "resets": 0,
                                      "batches": 0, "deltas": 0, "delta_misses": 0}
        #: The reasons of the lost connections, oldest first (the last 100).
        self.disconnect_reasons: List[str] = []

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> Reader:
        """Starts the connection loop and the delivery worker (``subscribe`` does it too)."""
        if self._closed:
            raise SignalgateError("closed", "reader is closed")
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            self._tasks = [loop.create_task(self._work()), loop.create_task(self._run())]
        return self

    async def __aenter__(self) -> Reader:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnects and drops every subscription; pending ``subscribe`` calls fail."""
        if self._closed:
            return
        self._closed = True
        for sub in self._subs.values():
            self._reject(sub.first, SignalgateError("closed", "reader closed"))
            if sub.retry:
                sub.retry.cancel()
        for bars in self._bars.values():
            self._reject(bars.first, SignalgateError("closed", "reader closed"))
        self._subs.clear()
        self._bars.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        sio, self._sio = self._sio, None
        if sio is not None:
            try:
                await sio.disconnect()
            except Exception:  # noqa: BLE001 - already gone
                pass
        if self._session is not None:
            await self._session.close()

    @property
    def connected(self) -> bool:
        """True while a connection is established."""
        return self._connected

    def last_seq(self, variant: str) -> Optional[int]:
        """The last seq seen for ``variant`` (delivered, filtered out, or an ack's ``seq``)."""
        sub = self._subs.get(variant)
        if sub is not None and sub.last_seq is not None:
            return sub.last_seq
        return self._seqs.get(variant)

    def epoch(self, variant: str) -> Optional[str]:
        """The epoch the position of ``variant`` belongs to."""
        sub = self._subs.get(variant)
        return sub.epoch if sub else None

    # ---------------------------------------------------------------- public API

    async def subscribe(
        self,
        variant: str,
        *,
        on_event: Callback = None,
        on_snapshot: Callback = None,
        on_reset: Callback = None,
        on_error: Callback = None,
        on_ack: Callback = None,
        on_truncated: Callback = None,
        instance_id: Optional[str] = None,
        vt_symbols: Optional[List[str]] = None,
        since_seq: Optional[int] = None,
        epoch: Optional[str] = None,
        batch: bool = False,
        deltas: bool = False,
    ) -> Ack:
        """Follows ``variant``; returns the first successful ack (raises ``SignalgateError`` if
        the server refuses it, e.g. ``forbidden``: the subscription is then forgotten;
        ``unavailable`` and ``busy`` are retried after the backoff instead).

        ``on_event(event)``: each event once, ascending ``seq`` (after ``since_seq`` if given);
        ``on_snapshot(snapshot)``: a snapshot newer than the last one of its instance;
        ``on_reset({"variant", "epoch", "reason"})``: the history was replaced (``stream_reset``,
        ``reset: true``) or pruned past the position (``history_pruned``): drop what you hold
        for the variant, the reader has already started over; ``on_error(SignalgateError)``: a
        refused resubscribe or failed gap fill (the reader retries by itself);
        ``on_truncated({"variant", "from_seq", "to_seq"})``: a replay is completed over REST.

        ``batch=True`` asks for ``event_batch`` packets, ``deltas=True`` for ``snapshot_delta``
        merge patches (see the module doc); the callbacks see the same events and snapshots
        either way.
        """
        await self.start()
        if variant in self._subs:
            raise SignalgateError("invalid_request", f"already subscribed to {variant}")
        callbacks = {"event": on_event, "snapshot": on_snapshot, "reset": on_reset,
                     "error": on_error, "ack": on_ack, "truncated": on_truncated}
        sub = _Sub(variant, instance_id, list(vt_symbols) if vt_symbols else None, callbacks,
                   since_seq, asyncio.get_running_loop().create_future(), epoch=epoch,
                   batch=bool(batch), deltas=bool(deltas))
        self._subs[variant] = sub
        if self._connected:
            await self._send(sub)
        return await sub.first

    async def unsubscribe(self, variant: str) -> None:
        """Stops delivering ``variant`` and tells the server."""
        sub = self._subs.pop(variant, None)
        if sub is None:
            return
        if sub.retry:
            sub.retry.cancel()
        self._reject(sub.first, SignalgateError("unsubscribed", f"unsubscribed from {variant}"))
        if sub.last_seq is not None:
            self._seqs[variant] = sub.last_seq
        ack = await self._request("unsubscribe", {"variant": variant})
        if ack is not None and not ack.get("ok"):
            raise SignalgateError.from_ack(ack, "unsubscribe refused")

    async def subscribe_bars(self, vt_symbol: str, interval: str,
                             on_bar: Callback) -> Optional[Bar]:
        """Follows one bar series (``1m``, ``1h``, ``d``, ``w``) again after every reconnect;
        ``on_bar(bar)`` gets the latest bar when it is new or changed (the ack's bar first).
        Returns the ack's bar (``None`` when the series has none yet)."""
        await self.start()
        key = (vt_symbol, interval)
        if key in self._bars:
            raise SignalgateError("invalid_request", f"already following {vt_symbol} {interval}")
        bars = _Bars(vt_symbol, interval, on_bar, asyncio.get_running_loop().create_future())
        self._bars[key] = bars
        if self._connected:
            await self._send_bars(bars)
        return await bars.first

    async def unsubscribe_bars(self, vt_symbol: str, interval: str) -> None:
        """Stops following a bar series."""
        bars = self._bars.pop((vt_symbol, interval), None)
        if bars is None:
            return
        self._reject(bars.first, SignalgateError("unsubscribed", "unsubscribed"))
        await self._request("unsubscribe_bars", {"vt_symbol": vt_symbol, "interval": interval})

    # ---------------------------------------------------------------- connection loop

    async def _token(self) -> Optional[str]:
        source = self._token_source
        if source is None or isinstance(source, str):
            return source
        value = source()
        if inspect.isawaitable(value):
            value = await value
        return value

    async def _run(self) -> None:
        """Connects, waits for the end of the connection, reconnects with backoff; forever."""
        base, most = self._delay
        failures = 0
        while not self._closed:
            self._gen += 1
            gen = self._gen
            ended = asyncio.Event()
            state = {"reason": "", "now": False}
            sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False,
                                       handle_sigint=False,
                                       websocket_extra_options=dict(self._ws_options))
            self._wire(sio, gen, ended, state)
            try:
                token = await self._token()
                await sio.connect(self.url, transports=["websocket"],
                                  auth={"token": token} if token else None,
                                  wait_timeout=self._ack_timeout)
            except Exception as err:  # noqa: BLE001 - refused, unreachable, 503 while stopping
                log.info("signalgate: connect to %s failed: %s", self.url, err)
                await self._quiet_disconnect(sio)
                delay = min(base * 2 ** min(failures, 30), most)
                failures += 1
                await asyncio.sleep(delay)
                continue
            failures = 0
            self._sio = sio
            self._queue.put_nowait(("connected", gen))
            await ended.wait()
            self._sio = None
            self._queue.put_nowait(("disconnected", gen, state["reason"]))
            await self._quiet_disconnect(sio)
            if not state["now"]:
                await asyncio.sleep(base)

    @staticmethod
    async def _quiet_disconnect(sio: socketio.AsyncClient) -> None:
        try:
            await sio.disconnect()
        except Exception:  # noqa: BLE001 - already gone
            pass

    def _wire(self, sio: socketio.AsyncClient, gen: int, ended: asyncio.Event,
              state: Dict[str, Any]) -> None:
        """Handlers only queue the message: the worker applies them one at a time, in order."""
        put = self._queue.put_nowait

        def on_disconnect(*args: Any) -> None:
            state["reason"] = state["reason"] or (str(args[0]) if args else "disconnect")
            ended.set()

        def on_shutdown(msg: Any = None) -> None:
            put(("shutdown", gen, msg))
            if isinstance(msg, dict) and msg.get("reconnect") is False:
                return
            state["reason"], state["now"] = "server_shutdown", True
            ended.set()

        sio.on("disconnect", on_disconnect)
        sio.on("server_shutdown", on_shutdown)
        sio.on("auth_expired", lambda msg=None: state.update(reason="auth_expired"))
        sio.on("event_new", lambda ev=None: put(("event", gen, ev)))
        sio.on("event_batch", lambda b=None: put(("batch", gen, b)))
        sio.on("snapshot_delta", lambda d=None: put(("delta", gen, d)))
        sio.on("snapshot_update", lambda snap=None: put(("snapshot", gen, snap)))
        sio.on("stream_reset", lambda r=None: put(("stream_reset", gen, r)))
        sio.on("bar_update", lambda b=None: put(("bar", gen, b)))

    async def _request(self, event: str, data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Emits with an ack when connected; ``None`` when not (the server forgets on
        disconnect)."""
        sio = self._sio
        if sio is None or not self._connected:
            return None
        try:
            ack = await sio.call(event, data, timeout=self._ack_timeout)
        except Exception as err:  # noqa: BLE001 - timeout or a connection lost meanwhile
            log.info("signalgate: %s got no ack: %s", event, err)
            return None
        return ack if isinstance(ack, dict) else None

    # ---------------------------------------------------------------- worker

    async def _work(self) -> None:
        """Applies queued messages one at a time; the only place callbacks are called."""
        while True:
            item = await self._queue.get()
            try:
                await self._apply(item)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep delivering
                log.exception("signalgate: applying %s failed", item[0])

    async def _apply(self, item: Tuple[Any, ...]) -> None:
        kind, gen = item[0], item[1]
        if kind == "disconnected":
            self._connected = False  # queued in order: always before the next "connected"
            self.stats["disconnects"] += 1
            self.disconnect_reasons = (self.disconnect_reasons + [item[2]])[-100:]
            await _call(self._hooks["disconnect"], item[2])
            return
        if kind == "shutdown":
            await _call(self._hooks["shutdown"], item[2])
            return
        if gen != self._gen or self._closed:
            return  # a message of an older connection: the resume replays it if needed
        if kind == "connected":
            self._connected = True
            self.stats["connects"] += 1
            await _call(self._hooks["connect"], gen)
            for sub in list(self._subs.values()):
                await self._send(sub)
            for bars in list(self._bars.values()):
                await self._send_bars(bars)
        elif kind == "ack":
            await self._apply_ack(*item[2:])
        elif kind == "resend":
            if not self._stale(item[2], item[3]) and self._connected:
                await self._send(item[2])
        elif kind == "bar_ack":
            await self._apply_bar_ack(item[2], item[3])
        else:
            await self._push(kind, item[2] if isinstance(item[2], dict) else {})

    async def _push(self, kind: str, msg: Dict[str, Any]) -> None:
        """A server push: ``event``, ``batch``, ``snapshot``, ``delta``, ``stream_reset`` or
        ``bar``."""
        if kind == "bar":
            bars = self._bars.get((str(msg.get("vt_symbol")), str(msg.get("interval"))))
            if bars is not None:
                await self._bar(bars, msg.get("bar"))
            return
        sub = self._subs.get(str(msg.get("variant")))
        if sub is None:
            return
        if kind == "event":
            if sub.syncing:
                sub.buffer.append(msg)  # type: ignore[arg-type]
            else:
                await self._event(sub, msg)
        elif kind == "batch":
            self.stats["batches"] += 1
            events = msg.get("events")
            for ev in events if isinstance(events, list) else []:
                if self._subs.get(sub.variant) is not sub:
                    break  # a callback unsubscribed meanwhile
                if sub.syncing:
                    sub.buffer.append(ev)
                else:
                    await self._event(sub, ev)
        elif kind == "snapshot":
            await self._snapshot(sub, msg)
        elif kind == "delta":
            await self._delta(sub, msg)
        elif kind == "stream_reset":
            await self._reset(sub, msg.get("epoch"), "stream_reset")
            await self._send(sub)

    # ---------------------------------------------------------------- subscriptions

    def _stale(self, sub: _Sub, attempt: int) -> bool:
        return self._subs.get(sub.variant) is not sub or attempt != sub.attempt

    async def _send(self, sub: _Sub) -> None:
        """Emits ``subscribe`` for ``sub``; a newer attempt makes older acks stale."""
        if sub.retry:
            sub.retry.cancel()
            sub.retry = None
        sub.attempt += 1
        attempt, gen, sio = sub.attempt, self._gen, self._sio
        sub.syncing, sub.buffer = True, []
        req: Dict[str, Any] = {"variant": sub.variant}
        if sub.instance_id is not None:
            req["instance_id"] = sub.instance_id
        if sub.vt_symbols:
            req["vt_symbols"] = list(sub.vt_symbols)
        if sub.batch:
            req["batch"] = True
        if sub.deltas:
            req["deltas"] = True
        if sub.last_seq is not None:
            req["since_seq"] = sub.last_seq
            if sub.epoch is not None:
                req["epoch"] = sub.epoch
        if sio is None:
            return  # the next connect sends it
        since = req.get("since_seq")

        def on_ack(*data: Any) -> None:
            self._queue.put_nowait(("ack", gen, sub, attempt, since, data[0] if data else None))

        try:
            await sio.emit("subscribe", req, callback=on_ack)
        except Exception as err:  # noqa: BLE001 - the connection ended: the reconnect resends
            log.info("signalgate: subscribe %s not sent: %s", sub.variant, err)

    def _fail(self, sub: _Sub, err: SignalgateError) -> bool:
        """A failed first subscribe rejects and forgets ``sub`` (True); later ones do not."""
        if sub.first.done():
            return False
        sub.first.set_exception(err)
        if self._subs.get(sub.variant) is sub:
            del self._subs[sub.variant]
        return True

    async def _apply_ack(self, sub: _Sub, attempt: int, since: Optional[int], ack: Any) -> None:
        """Snapshots, [REST gap], the ack's events, then the live events buffered meanwhile."""
        if self._stale(sub, attempt):
            return
        if not isinstance(ack, dict) or not ack.get("ok"):
            sub.syncing, sub.buffer = False, []
            err = SignalgateError.from_ack(ack, "subscribe refused")
            if err.code == "history_pruned" and since is not None:
                # The position is older than what retention kept: start over from first paint.
                await _call(sub.callbacks["error"], err)
                await self._reset(sub, sub.epoch, "history_pruned")
                await self._send(sub)
            elif err.code in RETRYABLE:  # e.g. a gateway just started: not a refusal
                await _call(sub.callbacks["error"], err)
                self._resubscribe_later(sub, attempt)
            elif not self._fail(sub, err):
                await _call(sub.callbacks["error"], err)
            return
        if ack.get("reset"):
            await self._reset(sub, ack.get("epoch"), "reset")
        if isinstance(ack.get("epoch"), str):
            sub.epoch = ack["epoch"]
        for snap in ack.get("snapshots") or []:
            await self._snapshot(sub, snap)
        head = ack.get("seq")
        if ack.get("truncated") and not ack.get("reset") and isinstance(head, int):
            await _call(sub.callbacks["truncated"],
                        {"variant": sub.variant, "from_seq": since, "to_seq": head})
            if since is not None:
                try:
                    await self._fill_gap(sub, attempt, since, head)
                    filled = True
                except Exception as err:  # noqa: BLE001 - HTTP error, network, bad JSON
                    code = err if isinstance(err, SignalgateError) else None
                    await _call(sub.callbacks["error"], code or SignalgateError(
                        "gap_fill_failed", f"{type(err).__name__}: {err}"))
                    filled = False
                if self._stale(sub, attempt):
                    return
                if not filled:
                    # Nothing past the gap may be applied: stay syncing, resubscribe later.
                    self._resubscribe_later(sub, attempt)
                    return
        sub.gap_retries = 0
        for ev in _by_seq(ack.get("events")):
            await self._event(sub, ev)
        self._advance(sub, head)  # live events at or below ack.seq were in the ack
        buffered = _by_seq(sub.buffer)
        sub.syncing, sub.buffer = False, []
        for ev in buffered:
            await self._event(sub, ev)
        await _call(sub.callbacks["ack"], ack)
        if not sub.first.done():
            sub.first.set_result(ack)  # type: ignore[arg-type]

    def _resubscribe_later(self, sub: _Sub, attempt: int) -> None:
        base, most = self._delay
        sub.gap_retries += 1
        delay = min(base * 2 ** min(sub.gap_retries - 1, 30), most)
        if sub.retry:
            sub.retry.cancel()
        gen = self._gen
        sub.retry = asyncio.get_running_loop().call_later(
            delay, self._queue.put_nowait, ("resend", gen, sub, attempt))

    async def _rest_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def _fill_gap(self, sub: _Sub, attempt: int, after: int, head: int) -> None:
        """Pages ``GET /api/events/{variant}?after_seq=N`` until ``head`` or an empty page."""
        session = await self._rest_session()
        url = f"{self._rest}/api/events/{quote(sub.variant, safe='')}"
        self.stats["gap_fills"] += 1
        while after < head:
            headers = {"Accept": "application/json"}
            token = await self._token()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            params = {"after_seq": str(after), "limit": str(PAGE_LIMIT)}
            async with session.get(url, params=params, headers=headers) as res:
                if res.status != 200:
                    raise SignalgateError("gap_fill_failed", f"GET {url}: HTTP {res.status}")
                page = await res.json()
            events = _by_seq(page.get("events") if isinstance(page, dict) else None)
            if self._stale(sub, attempt) or not events:
                return
            for ev in events:
                await self._event(sub, ev)  # filtered client-side in _event
            nxt = page.get("next_after_seq")
            nxt = nxt if isinstance(nxt, int) else events[-1]["seq"]
            if nxt <= after:
                return
            after = nxt

    async def _reset(self, sub: _Sub, epoch: Any, reason: str) -> None:
        """Forgets the position and snapshot versions of ``sub`` and tells the application."""
        sub.last_seq = None
        sub.epoch = epoch if isinstance(epoch, str) else None
        sub.versions = {}
        sub.held = {}
        self._seqs.pop(sub.variant, None)
        self.stats["resets"] += 1
        await _call(sub.callbacks["reset"],
                    {"variant": sub.variant, "epoch": sub.epoch, "reason": reason})

    def _advance(self, sub: _Sub, seq: Any) -> None:
        if isinstance(seq, int) and (sub.last_seq is None or seq > sub.last_seq):
            sub.last_seq = seq
            self._seqs[sub.variant] = seq

    async def _event(self, sub: _Sub, ev: Any) -> None:
        """Delivers one event unless already seen (seq <= last) or filtered out."""
        seq = ev.get("seq") if isinstance(ev, dict) else None
        if not isinstance(seq, int) or (sub.last_seq is not None and seq <= sub.last_seq):
            return
        self._advance(sub, seq)
        if sub.instance_id is not None and ev.get("instance_id") != sub.instance_id:
            return
        if sub.vt_symbols and ev.get("vt_symbol") not in sub.vt_symbols:
            return
        await _call(sub.callbacks["event"], ev)

    async def _snapshot(self, sub: _Sub, snap: Any) -> None:
        """Delivers a snapshot unless an equal or newer version of its instance was delivered."""
        if not isinstance(snap, dict):
            return
        instance = snap.get("instance_id")
        if sub.instance_id is not None and instance != sub.instance_id:
            return
        version = snap.get("version")
        if isinstance(version, int) and isinstance(instance, str):
            if version <= sub.versions.get(instance, -1):
                return
            sub.versions[instance] = version
        if sub.deltas and isinstance(instance, str):
            sub.held[instance] = snap  # the base of the next snapshot_delta
        await _call(sub.callbacks["snapshot"], snap)

    async def _delta(self, sub: _Sub, delta: Dict[str, Any]) -> None:
        """Applies a ``snapshot_delta`` to the held snapshot of its instance and delivers the
        result; resubscribes when that base is not held (the ack brings full snapshots)."""
        instance = delta.get("instance_id")
        if sub.instance_id is not None and instance != sub.instance_id:
            return
        base = sub.held.get(instance) if isinstance(instance, str) else None
        patch = delta.get("patch")
        if (base is None or base.get("version") != delta.get("base_version")
                or not isinstance(patch, dict)):
            self.stats["delta_misses"] += 1
            log.info("signalgate: %s delta %s from %s, but %s is held: resubscribing",
                     sub.variant, delta.get("version"), delta.get("base_version"),
                     None if base is None else base.get("version"))
            if not sub.syncing:  # else the pending ack brings full snapshots anyway
                await self._send(sub)
            return
        self.stats["deltas"] += 1
        snap = merge_patch(base, patch)  # a new top-level dict: the patch is an object
        if isinstance(delta.get("version"), int):
            snap["version"] = delta["version"]  # the patch carries it too; the delta rules
        await self._snapshot(sub, snap)

    # ---------------------------------------------------------------- bars

    async def _send_bars(self, bars: _Bars) -> None:
        sio, gen = self._sio, self._gen
        if sio is None:
            return

        def on_ack(*data: Any) -> None:
            self._queue.put_nowait(("bar_ack", gen, bars, data[0] if data else None))

        req = {"vt_symbol": bars.vt_symbol, "interval": bars.interval}
        try:
            await sio.emit("subscribe_bars", req, callback=on_ack)
        except Exception as err:  # noqa: BLE001 - the reconnect resends
            log.info("signalgate: subscribe_bars not sent: %s", err)

    async def _apply_bar_ack(self, bars: _Bars, ack: Any) -> None:
        if self._bars.get((bars.vt_symbol, bars.interval)) is not bars:
            return
        if not isinstance(ack, dict) or not ack.get("ok"):
            err = SignalgateError.from_ack(ack, "subscribe_bars refused")
            if not bars.first.done():
                bars.first.set_exception(err)
                del self._bars[(bars.vt_symbol, bars.interval)]
            return
        bar = ack.get("bar")
        await self._bar(bars, bar)
        if not bars.first.done():
            bars.first.set_result(bar)

    async def _bar(self, bars: _Bars, bar: Any) -> None:
        """Delivers a bar unless it repeats the last one or is older."""
        if not isinstance(bar, dict) or bar == bars.last:
            return
        if bars.last is not None and str(bar.get("datetime")) < str(bars.last.get("datetime")):
            return
        bars.last = bar
        await _call(bars.on_bar, bar)

    @staticmethod
    def _reject(fut: "asyncio.Future[Any]", err: Exception) -> None:
        if not fut.done():
            fut.set_exception(err)
            fut.exception()  # retrieved: no "exception was never retrieved" warning


#: The JS helper's name, for those who port code from it.
SignalgateClient = Reader
