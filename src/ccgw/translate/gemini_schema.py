"""Gemini's `Schema` (an OpenAPI 3.0 subset) → JSON Schema, for tool parameters and response schemas.

Gemini spells types in capitals (`OBJECT`, `STRING`), marks optional values with `nullable`, may send
integer keywords as strings (`"minItems": "1"`, proto JSON for int64) and adds `propertyOrdering`; the
SDKs may send the keywords in snake_case (`any_of`, `max_items`). Property names are the caller's data
and are never rewritten. A `parametersJsonSchema` is JSON Schema already and is passed through.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError

_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_INTEGER_KEYWORDS = {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
_SNAKE = {
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "property_ordering": "propertyOrdering",
}
_DROPPED = {"propertyOrdering", "nullable", "example"}


def to_json_schema(schema: Any, where: str) -> dict[str, Any]:
    """One Gemini schema object as JSON Schema (400 naming `where` if it is not an object)."""
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"{where}: a schema must be an object", param=where)
    keys: dict[str, Any] = {_SNAKE.get(str(k), str(k)): v for k, v in schema.items()}
    out: dict[str, Any] = {}
    for key, value in keys.items():
        if key in _DROPPED:
            continue
        if key == "type":
            kind = _type(value, f"{where}.type")
            if kind is not None:
                out["type"] = kind
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: to_json_schema(sub, f"{where}.properties.{name}") for name, sub in value.items()}
        elif key == "items":
            out["items"] = to_json_schema(value, f"{where}.items")
        elif key == "anyOf" and isinstance(value, list):
            out["anyOf"] = [to_json_schema(sub, f"{where}.anyOf[{i}]") for i, sub in enumerate(value)]
        elif key in _INTEGER_KEYWORDS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    if keys.get("nullable") is True:
        out = _nullable(out)
    return out


def _type(value: Any, where: str) -> str | None:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{where}: must be a string such as OBJECT or STRING", param=where)
    upper = value.upper()
    if upper == "TYPE_UNSPECIFIED":
        return None
    if upper not in _TYPES:
        raise InvalidRequestError(f"{where}: unknown type {value!r}", param=where)
    return upper.lower()


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}
