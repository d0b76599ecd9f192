"""Encoding a big value exactly as orjson would, a bounded piece per orjson call."""

from __future__ import annotations

from typing import Any

from ccgw.bulk import sizes
from ccgw.jsonutil import dumps as _dumps


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
    if _fits(value, sizes.SMALL) >= 0:
        out.append(_dumps(value))
    elif isinstance(value, str):
        out.append(b'"')
        out.extend(_dumps(value[i : i + sizes.PIECE // 4])[1:-1] for i in range(0, len(value), sizes.PIECE // 4))
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
        budget = sizes.SMALL
        first = True
        for item in value:
            left = _fits(item, budget)
            if left >= 0:
                run.append(item)
                budget = left
                continue
            if run:
                first = _flush(run, out, first)
                run, budget = [], sizes.SMALL
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
