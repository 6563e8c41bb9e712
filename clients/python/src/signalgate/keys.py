"""``event_key`` builders: the formats of docs/schema.md#event-keys.

A key is built from the event's own inputs (never from the wall clock at retry time), so a
retried or replayed bar rebuilds the same key and the idempotent insert adds nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone

#: ``event_key`` is ``VARCHAR(192)``.
MAX_KEY_LEN = 192


def iso_utc(dt: datetime) -> str:
    """``2024-05-01T01:30:00Z``: a time as it appears in event keys (naive means UTC)."""
    return to_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_utc(dt: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _key(*parts: str) -> str:
    key = "|".join(parts)
    if len(key) > MAX_KEY_LEN:
        raise ValueError(f"event_key longer than {MAX_KEY_LEN} characters: {key[:60]}...")
    return key


def signal_key(variant: str, instance_id: str, vt_symbol: str, bar_dt: datetime,
               signal_type: str) -> str:
    """``{variant}|{instance}|{vt_symbol}|{bar_dt}|{signal_type}``"""
    return _key(variant, instance_id, vt_symbol, iso_utc(bar_dt), signal_type)


def state_change_key(variant: str, instance_id: str, vt_symbol: str, bar_dt: datetime,
                     state_name: str, old: object, new: object) -> str:
    """``{variant}|{instance}|{vt_symbol}|{bar_dt}|{state_name}|{old}->{new}``

    Booleans are written ``true``/``false`` as in the example writer.
    """
    return _key(variant, instance_id, vt_symbol, iso_utc(bar_dt), state_name,
                f"{_text(old)}->{_text(new)}")


def alert_key(variant: str, instance_id: str, vt_symbol: str, timestamp: datetime,
              alert_type: str) -> str:
    """``{variant}|{instance}|{vt_symbol}|{timestamp}|{alert_type}``"""
    return _key(variant, instance_id, vt_symbol, iso_utc(timestamp), alert_type)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
