"""Validating a big body as a pydantic model would, long lists a batch at a time."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ccgw.bulk import sizes


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
        elif len(value) > sizes.BATCH:
            adapter = _adapter(field.annotation)
            for start in range(0, len(value), sizes.BATCH):
                _check(adapter, value[start : start + sizes.BATCH], (*loc, key), start)
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
