"""The NDJSON decoder at every chunk boundary, with each framing variant of upstream-protocol.md §3.1."""

from __future__ import annotations

import itertools

import pytest

from ccgw.upstream.ndjson import MALFORMED, NDJSONDecoder

BARE = b'{"type":"start"}\n{"type":"text-delta","id":"t","text":"h\xc3\xa9"}\n{"type":"finish"}\n'
SSE = (
    b': keep-alive\n\ndata: {"type":"start"}\n\nevent: x\ndata:{"type":"text-delta","id":"t","text":"h\xc3\xa9"}\n\n'
    b'\r\ndata: {"type":"finish"}\r\n\r\ndata: [DONE]\n\ndata: {"type":"late"}\n'
)
NO_NEWLINE = b'{"type":"start"}\n{"type":"text-delta","id":"t","text":"h\xc3\xa9"}\n{"type":"finish"}'
EXPECTED = [{"type": "start"}, {"type": "text-delta", "id": "t", "text": "hé"}, {"type": "finish"}]


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[dict[str, object]]:
    decoder = NDJSONDecoder()
    events = []
    edges = [0, *cuts, len(data)]
    for start, end in itertools.pairwise(edges):
        events += decoder.feed(data[start:end])
    return events + decoder.finish()


@pytest.mark.parametrize("data", [BARE, SSE, NO_NEWLINE], ids=["bare", "sse", "no-final-newline"])
def test_decoder_any_single_split_same_events(data: bytes) -> None:
    for cut in range(len(data) + 1):
        assert decode_in_pieces(data, [cut]) == EXPECTED, f"split at {cut}"


@pytest.mark.parametrize("data", [BARE, SSE], ids=["bare", "sse"])
def test_decoder_byte_by_byte_same_events(data: bytes) -> None:
    assert decode_in_pieces(data, list(range(1, len(data)))) == EXPECTED


def test_decoder_done_ignores_everything_after() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'data: [DONE]\n{"type":"start"}\n') == []
    assert decoder.done
    assert decoder.feed(b'{"type":"start"}\n') == []


def test_decoder_long_line_in_small_chunks() -> None:
    line = b'{"type":"start-step","request":{"body":"' + b"x" * 400_000 + b'"}}\n'
    decoder = NDJSONDecoder()
    events = []
    for i in range(0, len(line), 4096):
        events += decoder.feed(line[i : i + 4096])
    assert len(events) == 1
    assert len(events[0]["request"]["body"]) == 400_000


def test_decoder_malformed_json_line_reported() -> None:
    events = NDJSONDecoder().feed(b'{"type":"start"}\n{"type": "text-del\n{"type":"finish"}\n')
    assert [e["type"] for e in events] == ["start", MALFORMED, "finish"]


def test_decoder_non_json_padding_and_non_object_ignored_or_flagged() -> None:
    events = NDJSONDecoder().feed(b'ping\n  \n[1,2]\n{"type":"start"}\n')
    assert [e["type"] for e in events] == [MALFORMED, "start"]
