"""Parsing a big JSON body like orjson, a bounded piece per orjson call."""

from __future__ import annotations

import re
from typing import Any

from ccgw.bulk import sizes
from ccgw.jsonutil import loads as _loads

_WS = re.compile(rb"[ \t\n\r]*")
_SPECIAL = re.compile(rb'["\\\[\]{}]')
_SCALAR_END = re.compile(rb"[,\]}: \t\n\r]")


class BulkJSONError(ValueError):
    """The body is not valid JSON (the message says where)."""


def loads(raw: bytes | bytearray, *, max_depth: int = 200) -> Any:
    """Parse `raw` like orjson, in bounded pieces; arrays and objects nested deeper than
    `max_depth` are an error (the pieces are parsed by recursion)."""
    value, end = _value(raw, _skip(raw, 0), max_depth)
    if _skip(raw, end) != len(raw):
        raise BulkJSONError(f"unexpected data after the JSON value at byte {end}")
    return value


def _skip(raw: bytes | bytearray, pos: int) -> int:
    match = _WS.match(raw, pos)
    return match.end() if match else pos


def _value(raw: bytes | bytearray, pos: int, depth: int) -> tuple[Any, int]:
    if pos >= len(raw):
        raise BulkJSONError("unexpected end of the body")
    first = raw[pos]
    if first == 0x22:  # "
        end = _string_end(raw, pos)
        return _string(raw, pos, end), end
    if first in (0x7B, 0x5B):  # { [
        small = _container_end(raw, pos, pos + sizes.SMALL)
        if small is not None:
            return _slice(raw, pos, small), small
        if depth <= 0:
            raise BulkJSONError("arrays and objects nest too deeply")
        return _object(raw, pos, depth - 1) if first == 0x7B else _array(raw, pos, depth - 1)
    match = _SCALAR_END.search(raw, pos)
    end = match.start() if match else len(raw)
    return _slice(raw, pos, end), end


def _slice(raw: bytes | bytearray, start: int, end: int) -> Any:
    try:
        return _loads(raw[start:end])
    except ValueError as exc:
        raise BulkJSONError(f"{exc} (in bytes {start}–{end})") from None


def _string_end(raw: bytes | bytearray, pos: int, limit: int | None = None) -> int:
    """The index after the string that opens at `pos` (BulkJSONError if it does not close)."""
    at = pos + 1
    stop = len(raw) if limit is None else min(limit, len(raw))
    while True:
        quote = raw.find(b'"', at, stop)
        if quote < 0:
            if limit is not None:
                return -1
            raise BulkJSONError(f"a string opened at byte {pos} does not end")
        backslashes = 0
        while raw[quote - 1 - backslashes] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 0:
            return quote + 1
        at = quote + 1


def _container_end(raw: bytes | bytearray, pos: int, limit: int) -> int | None:
    """The index after the object or array at `pos` if it ends before `limit`, else None."""
    depth = 0
    at = pos
    limit = min(limit, len(raw))
    while True:
        match = _SPECIAL.search(raw, at, limit)
        if match is None:
            return None
        at = match.start()
        char = raw[at]
        if char == 0x22:
            end = _string_end(raw, at, limit)
            if end < 0:
                return None
            at = end
            continue
        if char == 0x5C:  # a backslash outside a string: let orjson name the error
            return at + 1
        depth += 1 if char in (0x7B, 0x5B) else -1
        at += 1
        if depth == 0:
            return at


def _string(raw: bytes | bytearray, start: int, end: int) -> str:
    """Decode the string token raw[start:end] (quotes included), a piece at a time when long."""
    if end - start <= sizes.PIECE:
        return str(_slice(raw, start, end))
    pieces: list[str] = []
    at, stop = start + 1, end - 1
    while at < stop:
        target = min(at + sizes.PIECE, stop)
        # A cut inside an escape, a surrogate pair or a UTF-8 sequence does not decode: move it a little.
        for cut in (
            target,
            *range(target - 1, max(at, target - 16), -1),
            *range(target + 1, min(stop, target + 16) + 1),
        ):
            try:
                pieces.append(_loads(b'"' + raw[at:cut] + b'"'))
                break
            except ValueError:
                continue
        else:
            raise BulkJSONError(f"invalid string at bytes {start}–{end}")
        at = cut
    return "".join(pieces)


def _run(raw: bytes | bytearray, at: int) -> tuple[list[Any], int] | None:
    """Many items of an array at once: the items from `at` up to a comma about sizes.SMALL bytes on.

    Lexing from an item's start is the document's own lexing, so a cut at a comma inside a string
    or a nested value leaves an unterminated string or an open bracket, and orjson refuses it; the
    first cut it accepts is a true boundary between items. None if no cut is found quickly.
    """
    cut = at + sizes.SMALL
    for _ in range(32):
        cut = raw.find(b",", cut, cut + sizes.SMALL)
        if cut < 0:
            return None
        try:
            return _loads(b"[" + raw[at:cut] + b"]"), cut
        except ValueError:
            cut += 1
    return None


def _array(raw: bytes | bytearray, pos: int, depth: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    at = _skip(raw, pos + 1)
    if at < len(raw) and raw[at] == 0x5D:
        return items, at + 1
    while True:
        run = _run(raw, at) if raw[at] in (0x7B, 0x5B) or len(raw) - at > 2 * sizes.SMALL else None
        if run is not None:
            items.extend(run[0])
            at = _skip(raw, run[1] + 1)
            continue
        value, at = _value(raw, at, depth)
        items.append(value)
        at = _skip(raw, at)
        if at < len(raw) and raw[at] == 0x5D:
            return items, at + 1
        if at >= len(raw) or raw[at] != 0x2C:
            raise BulkJSONError(f"expected ',' or ']' at byte {at}")
        at = _skip(raw, at + 1)


def _object(raw: bytes | bytearray, pos: int, depth: int) -> tuple[dict[str, Any], int]:
    members: dict[str, Any] = {}
    at = _skip(raw, pos + 1)
    if at < len(raw) and raw[at] == 0x7D:
        return members, at + 1
    while True:
        if at >= len(raw) or raw[at] != 0x22:
            raise BulkJSONError(f"expected a key at byte {at}")
        end = _string_end(raw, at)
        key = _string(raw, at, end)
        at = _skip(raw, end)
        if at >= len(raw) or raw[at] != 0x3A:  # :
            raise BulkJSONError(f"expected ':' at byte {at}")
        members[key], at = _value(raw, _skip(raw, at + 1), depth)
        at = _skip(raw, at)
        if at < len(raw) and raw[at] == 0x7D:
            return members, at + 1
        if at >= len(raw) or raw[at] != 0x2C:
            raise BulkJSONError(f"expected ',' or '}}' at byte {at}")
        at = _skip(raw, at + 1)
