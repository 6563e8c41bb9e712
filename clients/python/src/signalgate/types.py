"""The shapes the gateway sends (docs/rest.md#shapes), as ``TypedDict`` s for type checkers."""

from __future__ import annotations

import sys
from typing import Any, List, Optional

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # pragma: no cover - older Pythons: every key optional for the checker
    from typing import TypedDict

    NotRequired = Optional  # type: ignore[assignment]


class Snapshot(TypedDict):
    """A ``monitor_signal_snapshot`` row: the latest state of one strategy instance."""

    variant: str
    instance_id: str
    version: int
    updated_at: str
    bar_dt: Optional[str]
    bar_interval: Optional[str]
    bar_window: Optional[int]
    payload: Any


class Event(TypedDict):
    """A numbered ``monitor_signal_event`` row."""

    id: int
    seq: int
    variant: str
    instance_id: str
    vt_symbol: str
    bar_dt: Optional[str]
    event_type: str
    event_key: str
    created_at: str
    payload: Any


class Ack(TypedDict):
    """A successful ``subscribe`` ack."""

    ok: bool
    variant: str
    snapshots: List[Snapshot]
    events: List[Event]
    seq: int
    truncated: bool
    epoch: NotRequired[str]
    reset: NotRequired[bool]


class Bar(TypedDict):
    """A bar of ``dbbardata`` as ``/api/bars`` and ``bar_update`` carry it (UTC)."""

    datetime: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    turnover: float
    open_interest: float
