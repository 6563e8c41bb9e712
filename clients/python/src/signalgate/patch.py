"""RFC 7386 JSON merge patch, as the gateway's ``snapshot_delta`` uses it (docs/realtime.md)."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` (RFC 7386 section 2), without changing either.

    A member set to ``None`` (JSON ``null``) is removed, an object is merged recursively into
    the member it patches, anything else (arrays included) replaces it; a patch that is not an
    object replaces the whole target. Only the objects on patched paths are copied: the result
    shares unchanged members with ``target`` (treat both as read-only), as the JS helper does.
    """
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
