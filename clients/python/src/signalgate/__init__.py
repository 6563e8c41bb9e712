"""signalgate: a Python client for the signalgate gateway.

* :class:`Reader` (asyncio) and :class:`BlockingReader` (scripts) follow variants over
  Socket.IO with the guarantees of the JS helper (``clients/js/signalgate-client.js``): every
  event once, in ascending ``seq`` per variant, across reconnects (including the server's own
  disconnects and ``server_shutdown``), truncated replays (gap fill over REST with the same
  token) and database resets; opt-in ``batch`` (``event_batch``) and ``deltas``
  (``snapshot_delta``, applied with :func:`merge_patch`) per subscription.
* :class:`Writer` writes what the gateway serves, following docs/schema.md's writer contract
  on MySQL/MariaDB, PostgreSQL and SQLite: idempotent events with the documented ``event_key``
  formats, throttled snapshot upserts, UTC times, short transactions, safe retries.
"""

from .blocking import BlockingReader
from .keys import alert_key, iso_utc, signal_key, state_change_key
from .patch import merge_patch
from .reader import Reader, SignalgateClient, SignalgateError
from .types import Ack, Bar, Event, Snapshot
from .writer import Writer

__version__ = "0.1.0"
#: The realtime protocol this package speaks (docs/realtime.md): subscribe with ``since_seq`` and
#: ``epoch``, ``stream_reset``, ``server_shutdown``, ``auth_expired``, ``subscribe_bars``,
#: ``batch`` / ``deltas`` (``event_batch``, ``snapshot_delta``).
PROTOCOL_VERSION = "0.1"

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "Bar",
    "BlockingReader",
    "Event",
    "Reader",
    "SignalgateClient",
    "SignalgateError",
    "Snapshot",
    "Writer",
    "__version__",
    "alert_key",
    "iso_utc",
    "merge_patch",
    "signal_key",
    "state_change_key",
]
