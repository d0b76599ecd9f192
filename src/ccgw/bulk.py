"""Big request bodies, worked on in small pieces so the event loop keeps answering.

orjson and pydantic-core hold the GIL for the whole of one call: parsing 500k message parts took
300 ms in one `loads`, validating them 2 s in one `model_validate`, so moving those calls to a
thread alone would not help. Here every C call gets a bounded slice of the work (about
:data:`SMALL` bytes of JSON, :data:`BATCH` list items, :data:`PIECE` bytes of one long string),
and the Python between them lets the GIL go back to the event loop; callers run these functions
in a worker thread (`asyncio.to_thread`) for bodies of :data:`BIG_BODY` bytes or more. Results are
the same as orjson's and pydantic's on the whole document: small sub-documents still go through
them in one call each, and big ones are split only where JSON allows it.
"""

from __future__ import annotations

import gc
import re
import threading
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ccgw.jsonutil import dumps as _dumps
from ccgw.jsonutil import loads as _loads

BIG_BODY = 256 * 1024  # bodies from this size on are parsed, validated and encoded here, in a thread
SMALL = 64 * 1024  # a sub-document this small goes to orjson in one call
PIECE = 1 << 20  # bytes of one long string decoded or encoded per call
BATCH = 2000  # list items validated per call

_WS = re.compile(rb"[ \t\n\r]*")
_SPECIAL = re.compile(rb'["\\\[\]{}]')
_SCALAR_END = re.compile(rb"[,\]}: \t\n\r]")


GC_PAUSE_LIMIT = 300.0  # seconds; a pause nobody ended (a path that forgot) ends by itself


class GCPause:
    """No automatic garbage collection while a big body is alive.

    A full collection visits every tracked object, and one request with 500k parts makes millions:
    each collection then held the GIL for 80–120 ms, and so did the first one after the collector
    was turned back on while the trees were still alive. So the pause lasts until the request's
    trees are dismantled (:func:`release`); memory is freed by reference counting meanwhile, only
    cycles wait. Pauses nest across requests; :meth:`end` may be called from any thread, and twice.
    """

    _lock = threading.Lock()
    _active = 0

    def __init__(self) -> None:
        self._ended = False
        with GCPause._lock:
            if GCPause._active == 0:
                gc.disable()
            GCPause._active += 1

    def end(self) -> None:
        with GCPause._lock:
            if self._ended:
                return
            self._ended = True
            GCPause._active -= 1
            if GCPause._active == 0:
                gc.enable()


def release(pause: GCPause, *values: Any) -> None:
    """Dismantle `values` (see :func:`dismantle`), then end `pause`; for a worker thread."""
    try:
        dismantle(*values)
    finally:
        pause.end()


def dismantle(*values: Any) -> None:
    """Free big trees a slice at a time; for a worker thread, once nothing else uses them.

    Dropping the last reference to a 500k-part request frees it in one cascade that held the GIL
    for 40–80 ms per tree. Here every container is emptied in slices of :data:`SLICE` items.
    """
    stack = [v for v in values if isinstance(v, dict | list)]
    del values
    while stack:
        node = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        stack.extend(child for child in children if isinstance(child, dict | list))
        if isinstance(node, dict):
            node.clear()
            continue
        while node:
            del node[-SLICE:]


SLICE = 256


class BulkJSONError(ValueError):
    """The body is not valid JSON (the message says where)."""


# --- parsing ---------------------------------------------------------------------------------------


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
        small = _container_end(raw, pos, pos + SMALL)
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
    if end - start <= PIECE:
        return str(_slice(raw, start, end))
    pieces: list[str] = []
    at, stop = start + 1, end - 1
    while at < stop:
        target = min(at + PIECE, stop)
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
    """Many items of an array at once: the items from `at` up to a comma about SMALL bytes on.

    Lexing from an item's start is the document's own lexing, so a cut at a comma inside a string
    or a nested value leaves an unterminated string or an open bracket, and orjson refuses it; the
    first cut it accepts is a true boundary between items. None if no cut is found quickly.
    """
    cut = at + SMALL
    for _ in range(32):
        cut = raw.find(b",", cut, cut + SMALL)
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
        run = _run(raw, at) if raw[at] in (0x7B, 0x5B) or len(raw) - at > 2 * SMALL else None
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


# --- encoding --------------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """Encode `value` exactly as orjson would, in bounded pieces."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _fits(value: Any, budget: int) -> int:
    """What is left of `budget` (about bytes) after `value`; negative once it does not fit."""
    stack = [value]
    while stack and budget >= 0:
        node = stack.pop()
        if isinstance(node, str):
            budget -= len(node) + 2
        elif isinstance(node, dict):
            budget -= 2 + len(node)
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            budget -= 2 + len(node)
            stack.extend(node)
        else:
            budget -= 8
    return budget


def _encode(value: Any, out: list[bytes]) -> None:
    if _fits(value, SMALL) >= 0:
        out.append(_dumps(value))
    elif isinstance(value, str):
        out.append(b'"')
        out.extend(_dumps(value[i : i + PIECE // 4])[1:-1] for i in range(0, len(value), PIECE // 4))
        out.append(b'"')
    elif isinstance(value, dict):
        out.append(b"{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(b",")
            _encode(key, out)
            out.append(b":")
            _encode(item, out)
        out.append(b"}")
    elif isinstance(value, list | tuple):
        out.append(b"[")
        run: list[Any] = []
        budget = SMALL
        first = True
        for item in value:
            left = _fits(item, budget)
            if left >= 0:
                run.append(item)
                budget = left
                continue
            if run:
                first = _flush(run, out, first)
                run, budget = [], SMALL
            left = _fits(item, budget)
            if left >= 0:
                run, budget = [item], left
            else:
                if not first:
                    out.append(b",")
                _encode(item, out)
                first = False
        if run:
            _flush(run, out, first)
        out.append(b"]")
    else:
        out.append(_dumps(value))


def _flush(run: list[Any], out: list[bytes], first: bool) -> bool:
    """Append the items of `run`, comma-separated, in one orjson call; returns False (not first)."""
    if not first:
        out.append(b",")
    out.append(_dumps(run)[1:-1])
    return False


def clip(value: Any, budget: int) -> Any:
    """A copy of `value` cut after about `budget` bytes of its JSON: `dumps(clip(v, n))[:n]` equals
    `dumps(v)[:n]` (every node kept is at least one byte of output), at a cost bounded by `n`."""
    left = [budget]

    def cut(node: Any) -> Any:
        if left[0] <= 0:
            return None
        if isinstance(node, str):
            left[0] -= len(node)
            return node[: max(0, left[0] + len(node))]
        left[0] -= 1
        if isinstance(node, dict):
            kept: dict[Any, Any] = {}
            for key, item in node.items():
                if left[0] <= 0:
                    break
                left[0] -= len(str(key))
                kept[key] = cut(item)
            return kept
        if isinstance(node, list | tuple):
            items: list[Any] = []
            for item in node:
                if left[0] <= 0:
                    break
                items.append(cut(item))
            return items
        return node

    return cut(value)


# --- validation ------------------------------------------------------------------------------------


class PieceError(Exception):
    """A validation error found in one piece; :meth:`first` is its first problem, located in the whole body."""

    def __init__(self, error: ValidationError, loc: tuple[Any, ...] = (), offset: int = 0) -> None:
        super().__init__(str(error))
        self.error = error
        self.loc = loc
        self.offset = offset  # the piece's first index in its list

    def first(self) -> dict[str, Any]:
        first: dict[str, Any] = dict(self.error.errors()[0])
        inner: list[Any] = list(first["loc"])
        for index, part in enumerate(inner):
            if isinstance(part, int):
                inner[index] = part + self.offset
                break
        first["loc"] = (*self.loc, *inner)
        return first


def validate(model: type[BaseModel], data: dict[str, Any]) -> None:
    """Validate `data` as `model` would, long lists a batch at a time (raises :class:`PieceError`)."""
    _shrunk(model, data, ())


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """M for `list[M]`, or for a union with `list[M]` in it (`list[M] | None`)."""
    if getattr(annotation, "__origin__", None) is list:
        (item,) = annotation.__args__
        return item if isinstance(item, type) and issubclass(item, BaseModel) else None
    for arm in getattr(annotation, "__args__", ()):
        found = _item_model(arm)
        if found is not None:
            return found
    return None


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _shrunk(model: type[BaseModel], data: dict[str, Any], loc: tuple[Any, ...]) -> dict[str, Any]:
    """Validate the items of `data`'s lists one by one (or a batch at a time), then `data` itself
    with each list cut to its first item. Returns that cut copy."""
    out = dict(data)
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = data.get(key)
        if not isinstance(value, list) or not value:
            continue
        item_model = _item_model(field.annotation)
        if item_model is not None:
            items = []
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    items.append(_shrunk(item_model, item, (*loc, key, index)))
                else:
                    _check(_adapter(item_model), item, (*loc, key, index))
            out[key] = items[:1]
        elif len(value) > BATCH:
            adapter = _adapter(field.annotation)
            for start in range(0, len(value), BATCH):
                _check(adapter, value[start : start + BATCH], (*loc, key), start)
            out[key] = value[:1]
    _check(model, out, loc)
    return out


def _check(schema: TypeAdapter[Any] | type[BaseModel], value: Any, loc: tuple[Any, ...], offset: int = 0) -> None:
    try:
        if isinstance(schema, TypeAdapter):
            schema.validate_python(value)
        else:
            schema.model_validate(value)
    except ValidationError as exc:
        raise PieceError(exc, loc, offset) from None
