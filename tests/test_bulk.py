"""Big bodies in pieces (ccgw.bulk): the same results as orjson and pydantic on the whole document.

The piece sizes are shrunk to a few bytes here, so every path (runs of array items, containers
walked member by member, strings decoded and encoded in pieces) runs on small documents.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ccgw import bulk
from ccgw.bulk import sizes
from ccgw.schemas import ChatCompletionRequest, MessagesRequest


@pytest.fixture(autouse=True)
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizes, "SMALL", 24)
    monkeypatch.setattr(sizes, "PIECE", 8)
    monkeypatch.setattr(sizes, "BATCH", 3)
    monkeypatch.setattr(sizes, "SLICE", 2)


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=8) | st.dictionaries(text, inner, max_size=6), max_leaves=60
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from([None, 2]))
def test_bulk_loads_and_dumps_match_orjson(document: Any, indent: int | None) -> None:
    raw = json.dumps(document, indent=indent, ensure_ascii=False).encode() if indent else orjson.dumps(document)
    assert bulk.loads(raw) == orjson.loads(raw)
    assert bulk.loads(bytearray(raw)) == orjson.loads(raw)
    assert bulk.dumps(document) == orjson.dumps(document)


@pytest.mark.parametrize(
    "value",
    ["x" * 100, '\n\t"\\' * 30, "é中😀" * 20, "\\u00e9" * 10, "a\u2028b" * 10],
)
def test_bulk_long_strings_cut_anywhere_decode_whole(value: str) -> None:
    raw = orjson.dumps({"s": value, "escaped": json.dumps(value)})
    assert bulk.loads(raw) == {"s": value, "escaped": json.dumps(value)}
    assert bulk.loads(json.dumps({"s": value}).encode()) == {"s": value}  # \uXXXX escapes, surrogate pairs
    assert bulk.dumps({"s": value}) == orjson.dumps({"s": value})


@pytest.mark.parametrize(
    "raw",
    [b'{"a": [1, 2', b'{"a" 1}', b'{"a": "x\\q"}', b'{"a": 1}}', b"[1,]", b'{"a": "' + b"x" * 100, b"", b'{"a": tru}'],
)
def test_bulk_loads_refuses_what_orjson_refuses(raw: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    with pytest.raises(bulk.BulkJSONError):
        bulk.loads(raw)


def test_bulk_loads_bounds_nesting() -> None:
    with pytest.raises(bulk.BulkJSONError, match="nest"):
        bulk.loads(b"[" * 300 + b"1" + b"]" * 300, max_depth=200)


def test_bulk_clip_keeps_the_serialized_prefix() -> None:
    value = {"role": "user", "content": [{"type": "text", "text": "x" * 50}, *({"t": i} for i in range(100))]}
    for budget in (1, 10, 60, 200, 4096):
        assert orjson.dumps(bulk.clip(value, budget))[:budget] == orjson.dumps(value)[:budget]


def test_bulk_validate_finds_what_pydantic_finds_at_the_same_place() -> None:
    good = {
        "model": "m",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}] * 7}] * 5,
    }
    bulk.validate(MessagesRequest, good)
    bad_role = {**good, "messages": [*good["messages"], {"role": "wizard", "content": "x"}]}
    bad_part = {**good, "messages": [{"role": "user", "content": [{"type": "text"}] * 6 + ["nope"]}]}
    bad_top = {**good, "max_tokens": "many"}
    bad_chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}] * 4 + [{"role": "user", "content": 3}]}
    for model, document in (
        (MessagesRequest, bad_role),
        (MessagesRequest, bad_part),
        (MessagesRequest, bad_top),
        (ChatCompletionRequest, bad_chat),
    ):
        with pytest.raises(ValidationError) as whole:
            model.model_validate(document)
        with pytest.raises(bulk.PieceError) as pieces:
            bulk.validate(model, document)
        expected = whole.value.errors()[0]
        found = pieces.value.first()
        assert (found["loc"], found["msg"]) == (expected["loc"], expected["msg"])


def test_bulk_dismantle_empties_every_container_and_release_resumes_the_collector() -> None:
    tree = {"a": [{"b": [1, 2, 3, [4, 5]]}, "x"], "c": {"d": [6] * 9}}
    inner = tree["a"]
    pause = bulk.GCPause()
    assert not gc.isenabled()
    bulk.release(pause, tree)
    assert tree == {} and inner == []
    assert gc.isenabled()
    pause.end()  # a second end changes nothing
    assert gc.isenabled()


def test_bulk_gc_pauses_nest() -> None:
    first, second = bulk.GCPause(), bulk.GCPause()
    first.end()
    assert not gc.isenabled()
    second.end()
    assert gc.isenabled()
