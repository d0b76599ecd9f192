"""Reading Gemini JSON whichever way its field names are spelled.

The REST API and Gemini CLI write camelCase (`systemInstruction`), the Python SDK snake_case
(`system_instruction`); Google's servers accept both, and so does ccgw. Only the API's own field names
are looked up this way: the caller's data (function arguments, schema property names) is never renamed.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ccgw.errors import InvalidRequestError


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", r"_\1", name).lower()


def get(obj: Any, name: str) -> Any:
    """`obj[name]` under its camelCase or its snake_case spelling (None when absent or `obj` is no object)."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """A list of objects, or an empty list for None (400 naming `where` for anything else)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidRequestError(f"{where}: must be an array of objects", param=where)
    return value
