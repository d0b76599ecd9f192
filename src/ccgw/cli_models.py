"""The Command Code CLI's own model table, as `scripts/cli_models.py` derived it (`data/cli_models.json`).

The CLI fetches no model list: what it knows about each model (context window, output limit, effort
levels, whether it reads images, the cheapest plan that has it) is compiled into it. ccgw reads the
same table, so it sends what the CLI would send, and `/v1/models` has context windows and plan tiers
even when the live catalog cannot be had.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

EFFORT_SCALE = ("minimal", "low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    context_window: int
    max_output_tokens: int | None
    text_only: bool
    efforts: tuple[str, ...]  # the levels the CLI sends for it; empty: it sends none
    hidden: bool
    category: str | None
    min_plan: str | None  # the cheapest plan id that has it (the CLI's getMinimumPlanForModel)


@dataclass(frozen=True, slots=True)
class Table:
    cli_version: str
    default_context_window: int
    plan_names: dict[str, str]
    models: tuple[ModelInfo, ...]
    by_id: dict[str, ModelInfo]

    def lookup(self, model_id: str) -> ModelInfo | None:
        """The CLI's entry for `model_id` (ids compare case-insensitively, as the CLI's do)."""
        return self.by_id.get(model_id.lower())


def _model(raw: dict[str, Any]) -> ModelInfo:
    return ModelInfo(
        id=raw["id"],
        name=raw["name"],
        context_window=int(raw["context_window"]),
        max_output_tokens=raw.get("max_output_tokens"),
        text_only=bool(raw["text_only"]),
        efforts=tuple(raw["reasoning_efforts"]),
        hidden=bool(raw["hidden"]),
        category=raw.get("category"),
        min_plan=raw.get("min_plan"),
    )


@functools.cache
def table() -> Table:
    document = json.loads(resources.files("ccgw.data").joinpath("cli_models.json").read_text(encoding="utf-8"))
    models = tuple(_model(m) for m in document["models"])
    return Table(
        cli_version=document["cli_version"],
        default_context_window=int(document["default_context_window"]),
        plan_names={plan: info["name"] for plan, info in document["plans"].items()},
        models=models,
        by_id={m.id.lower(): m for m in models},
    )


def lookup(model_id: str) -> ModelInfo | None:
    return table().lookup(model_id)
