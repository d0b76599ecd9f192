"""The one JSON codec of the hot paths (orjson: several times faster than the standard library).

The functions are orjson's own, not wrappers: the NDJSON decoder calls `loads` once per upstream
event, where an extra Python call layer is measurable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError

# Compact UTF-8 JSON; non-ASCII stays as is, as the upstream and the SDKs expect.
dumps: Callable[[Any], bytes] = orjson.dumps
loads: Callable[[bytes | bytearray | memoryview | str], Any] = orjson.loads


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()
