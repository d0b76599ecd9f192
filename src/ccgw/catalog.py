"""The model catalog: the upstream's `/provider/v1/models`, cached, filtered and resolvable.

The list is refreshed after `ttl` seconds (one refresh at a time) and served from the last good
copy while the upstream is down. Before the first successful fetch (and on a Go key the Provider
API's list may never come), the CLI's own table stands in: the models the CLI offers, with their
context windows. Every entry carries `context_length` and, for ids the CLI knows, the cheapest plan
that has the model (`min_plan`) and its output limit, live or not.
Names resolve in this order: configured alias (exact names first, then shell patterns such as
`gemini-*`, the most specific first, for clients that call many fixed ids), exact id, case-insensitive id, then a unique id
whose part after the last `/` matches (`deepseek-v4-pro` → `deepseek/deepseek-v4-pro`). An
unknown name triggers one early refresh (new models appear) before it is refused.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ccgw import cli_models
from ccgw.errors import GatewayError, NotFoundError
from ccgw.translate.common import shown

log = logging.getLogger("ccgw.catalog")

RETRY_UNKNOWN_AFTER = 60.0  # an unknown name may be a new model: refetch, but not more often
RETRY_FAILED_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    name: str = ""
    context_length: int | None = None
    endpoints: tuple[str, ...] = ()  # the Provider API's `supported_endpoints` ("/chat/completions", "/messages")

    @property
    def owned_by(self) -> str:
        if "/" in self.id:
            return self.id.split("/", 1)[0]
        if self.id.startswith("claude"):
            return "anthropic"
        if self.id.startswith(("gpt", "o1", "o3", "o4")):
            return "openai"
        return "commandcode"

    def openai(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": self.id, "object": "model", "created": 0, "owned_by": self.owned_by}
        info = cli_models.lookup(self.id)
        if self.name or info:
            entry["name"] = self.name or (info.name if info else "")
        entry["context_length"] = self.context_length or (
            info.context_window if info else cli_models.table().default_context_window
        )
        if info and info.max_output_tokens:
            entry["max_output_tokens"] = info.max_output_tokens
        if info and info.min_plan:
            entry["min_plan"] = info.min_plan
            entry["min_plan_name"] = cli_models.table().plan_names.get(info.min_plan, info.min_plan)
        return entry


def cli_fallback() -> list[Model]:
    """The models the CLI offers (its bundled table), for when the live catalog cannot be had."""
    return [
        Model(id=m.id, name=m.name, context_length=m.context_window) for m in cli_models.table().models if not m.hidden
    ]


def _parse(document: Any) -> list[Model]:
    rows = document.get("data") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise ValueError("catalog has no data list")
    models = []
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("id"), str) and row["id"]:
            length = row.get("context_length")
            endpoints = row.get("supported_endpoints")
            models.append(
                Model(
                    id=row["id"],
                    name=str(row.get("name") or ""),
                    context_length=length if isinstance(length, int) and length > 0 else None,
                    endpoints=tuple(e for e in endpoints if isinstance(e, str)) if isinstance(endpoints, list) else (),
                )
            )
    return models


def _is_pattern(alias: str) -> bool:
    return any(c in alias for c in "*?[")


def _literal_length(pattern: str) -> int:
    return sum(c not in "*?[]" for c in pattern)


def excluded(model_id: str, prefixes: Iterable[str]) -> bool:
    """cmdcode2apipy's rule: a prefix matches the whole id or the part after the last `/`."""
    tail = model_id.rsplit("/", 1)[-1].lower()
    lowered = model_id.lower()
    return any(lowered.startswith(p.lower()) or tail.startswith(p.lower()) for p in prefixes if p)


class Catalog:
    """Stale-while-revalidate: only the very first fetch is awaited by a request."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Any]],
        *,
        ttl: float,
        exclude: Iterable[str] = (),
        aliases: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._exclude = tuple(exclude)
        self._aliases = {k.lower(): v for k, v in (aliases or {}).items() if not _is_pattern(k)}
        patterns = [(k.lower(), v) for k, v in (aliases or {}).items() if _is_pattern(k)]
        self._patterns = sorted(patterns, key=lambda p: -_literal_length(p[0]))  # the most specific first
        self._clock = clock
        self._models: list[Model] = cli_fallback()
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.stale = True  # True until a fetch succeeds, and again after one fails

    def _due(self, *, unknown_name: bool = False) -> bool:
        if self._attempted_at is None:
            return True
        age = self._clock() - self._attempted_at
        if unknown_name:
            return age > RETRY_UNKNOWN_AFTER
        return age > (min(self._ttl, RETRY_FAILED_AFTER) if self.stale else self._ttl)

    async def refresh(self, *, unknown_name: bool = False) -> None:
        """Fetch the catalog if it is due; keep the last good copy on failure."""
        async with self._lock:
            if not self._due(unknown_name=unknown_name):
                return  # fresh, or somebody refreshed while we waited
            self._attempted_at = self._clock()
            try:
                models = _parse(await self._fetch())
            except (GatewayError, ValueError) as exc:
                log.warning("model catalog unavailable, serving the last good copy: %s", exc)
                self.stale = True
                return
            self._models, self.stale = models, False

    async def _current(self) -> list[Model]:
        if self._attempted_at is None:
            await self.refresh()
        elif self._due() and (self._background is None or self._background.done()):
            self._background = asyncio.create_task(self.refresh())
        return self._models

    async def models(self) -> list[Model]:
        """The visible models (exclusions applied)."""
        return [m for m in await self._current() if not excluded(m.id, self._exclude)]

    def _lookup(self, name: str) -> Model | None:
        lowered = name.lower()
        for model in self._models:
            if model.id == name:
                return model
        for model in self._models:
            if model.id.lower() == lowered:
                return model
        tail = lowered.rsplit("/", 1)[-1]
        matches = [m for m in self._models if m.id.lower().rsplit("/", 1)[-1] == tail]
        return matches[0] if len(matches) == 1 else None

    def known(self, model_id: str) -> Model | None:
        """The catalog's entry for a resolved id, as last fetched (no I/O)."""
        return next((m for m in self._models if m.id == model_id), None)

    def _alias(self, name: str) -> str:
        lowered = name.lower()
        if lowered in self._aliases:
            return self._aliases[lowered]
        return next((target for pattern, target in self._patterns if fnmatch.fnmatchcase(lowered, pattern)), name)

    async def resolve(self, name: str) -> Model:
        """The catalog model a client's name means; 404 if none (or if it is excluded)."""
        await self._current()
        target = self._alias(name)
        model = self._lookup(target)
        if model is None and self._due(unknown_name=True):
            await self.refresh(unknown_name=True)
            model = self._lookup(target)
        if model is None:
            raise NotFoundError(
                f"The model {shown(name)} does not exist or is not served by Command Code; GET /v1/models lists them",
                code="model_not_found",
                param="model",
            )
        if excluded(model.id, self._exclude):
            raise NotFoundError(
                f"The model {model.id!r} is excluded by exclude_models in the gateway's config",
                code="model_not_found",
                param="model",
            )
        return model

    async def aclose(self) -> None:
        if self._background is not None:
            self._background.cancel()
