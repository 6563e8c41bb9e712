"""``merge_patch`` (RFC 7386) and the reader's use of it for ``snapshot_delta``, without a
gateway: the RFC's own examples, purity, and what the reader does with a delta whose base it
holds or does not hold."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, Dict, List

import pytest

from signalgate import Reader, merge_patch

# RFC 7386, Appendix A: (original, patch, result), verbatim.
RFC_7386_APPENDIX_A = [
    ('{"a":"b"}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
    ('{"a":"b"}', '{"a":null}', '{}'),
    ('{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
    ('{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
    ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
    ('{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
    ('["a","b"]', '["c","d"]', '["c","d"]'),
    ('{"a":"b"}', '["c"]', '["c"]'),
    ('{"a":"foo"}', 'null', 'null'),
    ('{"a":"foo"}', '"bar"', '"bar"'),
    ('{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
    ('[1,2]', '{"a":"b","c":null}', '{"a":"b"}'),
    ('{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'),
]


@pytest.mark.parametrize("original,patch,result", RFC_7386_APPENDIX_A)
def test_merge_patch_rfc_7386_appendix_a(original: str, patch: str, result: str) -> None:
    assert merge_patch(json.loads(original), json.loads(patch)) == json.loads(result)


def test_merge_patch_rfc_7386_section_3_example() -> None:
    target = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
              "tags": ["example", "sample"], "content": "This will be unchanged"}
    patch = {"title": "Hello!", "phoneNumber": "+01-123-456-7890",
             "author": {"familyName": None}, "tags": ["example"]}
    assert merge_patch(target, patch) == {
        "title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
        "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"}


def test_merge_patch_changes_neither_argument_and_shares_untouched_members() -> None:
    target = {"version": 1, "payload": {"instruments": {"a": {"p": 1}, "b": {"p": 2}}}}
    patch = {"version": 2, "payload": {"instruments": {"a": {"p": 3}, "c": None}}}
    before = (copy.deepcopy(target), copy.deepcopy(patch))
    out = merge_patch(target, patch)
    assert (target, patch) == before
    assert out == {"version": 2, "payload": {"instruments": {"a": {"p": 3}, "b": {"p": 2}}}}
    assert out["payload"]["instruments"]["b"] is target["payload"]["instruments"]["b"]
    assert out["payload"]["instruments"] is not target["payload"]["instruments"]


def _snap(version: int, price: float) -> Dict[str, Any]:
    return {"variant": "v", "instance_id": "i1", "version": version,
            "updated_at": f"2026-11-21T05:00:0{version}.000000Z", "bar_dt": None,
            "bar_interval": None, "bar_window": None,
            "payload": {"instruments": {"rb2405.SHFE": {"price": price}, "i2": {"price": 1}}}}


def test_reader_applies_deltas_to_the_held_snapshot_and_resubscribes_on_a_missing_base(
) -> None:
    # The reader's worker on its own: no connection (a resubscribe is only recorded).
    async def body() -> None:
        r = Reader("http://127.0.0.1:9")
        r._queue = asyncio.Queue()
        got: List[Dict[str, Any]] = []
        sent: List[str] = []
        sub = _make_sub(r, got)

        async def fake_send(s: Any) -> None:
            sent.append(s.variant)

        r._send = fake_send  # type: ignore[method-assign]
        await r._snapshot(sub, _snap(42, 3520))
        delta = {"variant": "v", "instance_id": "i1", "version": 43, "base_version": 42,
                 "patch": {"version": 43, "updated_at": "2026-11-21T05:43:00.000000Z",
                           "payload": {"instruments": {"rb2405.SHFE": {"price": 3521}}}}}
        await r._push("delta", delta)
        want = _snap(42, 3521)
        want.update(version=43, updated_at="2026-11-21T05:43:00.000000Z")
        assert got[-1] == want and r.stats["deltas"] == 1 and sent == []
        assert got[0]["payload"]["instruments"]["rb2405.SHFE"]["price"] == 3520, "base unchanged"

        await r._push("delta", {**delta, "version": 45, "base_version": 44})  # 44 never came
        assert len(got) == 2 and r.stats["delta_misses"] == 1 and sent == ["v"]
        await r._push("delta", {**delta, "instance_id": "other"})  # an instance never held
        assert len(got) == 2 and r.stats["delta_misses"] == 2 and sent == ["v", "v"]
        await r._push("batch", {"variant": "v", "events": [
            {"seq": 1, "variant": "v"}, {"seq": 2, "variant": "v"}, {"seq": 2, "variant": "v"}]})
        assert r.stats["batches"] == 1 and r.last_seq("v") == 2

    asyncio.run(body())


def _make_sub(r: Reader, got: List[Dict[str, Any]]) -> Any:
    from signalgate.reader import _Sub

    fut = asyncio.get_running_loop().create_future()
    sub = _Sub("v", None, None, {"snapshot": got.append, "event": None}, None, fut,
               syncing=False, deltas=True, batch=True)
    r._subs["v"] = sub
    return sub
