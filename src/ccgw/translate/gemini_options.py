"""Gemini request options → upstream ones: `tools`, `toolConfig` and `generationConfig` (pure).

`candidateCount` becomes the gateway's fan-out (n parallel generations), `stopSequences` are applied by
the gateway, `thinkingConfig` becomes an effort (and decides whether thought parts go back), and the
JSON output modes become an instruction: the upstream has no structured-output switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.translate import common
from ccgw.translate.effort import effort_from_budget, upstream_effort
from ccgw.translate.gemini_fields import get, objects
from ccgw.translate.gemini_schema import to_json_schema

MAX_CANDIDATES = 8
MAX_STOPS = 16
_MODES = {"AUTO": "auto", "VALIDATED": "auto", "ANY": "any", "NONE": "none", "MODE_UNSPECIFIED": "auto"}


@dataclass(frozen=True, slots=True)
class Generation:
    """What `generationConfig` asks for, in the upstream's and the gateway's terms."""

    max_tokens: Any = None
    sampling: tuple[tuple[str, Any], ...] = ()  # upstream params: temperature, top_p, top_k
    stops: tuple[str, ...] = ()
    n: int = 1
    effort: str | None = None
    include_thoughts: bool = False
    instruction: str | None = None


def tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Function declarations as upstream tools, limited to `allowedFunctionNames` when that is set."""
    specs: list[dict[str, Any]] = []
    for i, tool in enumerate(objects(get(body, "tools"), "tools")):
        declarations = objects(get(tool, "functionDeclarations"), f"tools[{i}].functionDeclarations")
        for j, declaration in enumerate(declarations):
            specs.append(_declaration(declaration, f"tools[{i}].functionDeclarations[{j}]"))
    allowed = get(_calling(body), "allowedFunctionNames")
    if isinstance(allowed, list) and allowed:
        specs = [s for s in specs if s["name"] in allowed]
    return specs


def _declaration(declaration: dict[str, Any], where: str) -> dict[str, Any]:
    schema = get(declaration, "parametersJsonSchema")
    if schema is None and get(declaration, "parameters") is not None:
        schema = to_json_schema(get(declaration, "parameters"), f"{where}.parameters")
    return common.tool_spec(get(declaration, "name"), get(declaration, "description"), schema, where)


def _calling(body: dict[str, Any]) -> Any:
    return get(get(body, "toolConfig"), "functionCallingConfig")


def tool_choice(body: dict[str, Any], specs: list[dict[str, Any]]) -> dict[str, Any]:
    """`functionCallingConfig.mode` as the upstream's tool choice (ANY with one tool names it)."""
    mode = get(_calling(body), "mode") or "AUTO"
    kind = _MODES.get(mode.upper()) if isinstance(mode, str) else None
    if kind is None:
        where = "toolConfig.functionCallingConfig.mode"
        raise InvalidRequestError(f"{where}: must be AUTO, ANY, NONE or VALIDATED", param=where)
    if kind == "any" and len(specs) == 1:
        return {"type": "tool", "name": specs[0]["name"]}
    return {"type": kind}


def generation(body: dict[str, Any], efforts: Sequence[str]) -> Generation:
    config = get(body, "generationConfig")
    if config is None:
        return Generation()
    if not isinstance(config, dict):
        raise InvalidRequestError("generationConfig: must be an object", param="generationConfig")
    # Only the temperature goes upstream: the CLI never sends top_p or top_k (upstream-protocol.md §11).
    sampling = (("temperature", get(config, "temperature")),) if get(config, "temperature") is not None else ()
    thinking = get(config, "thinkingConfig")
    return Generation(
        max_tokens=get(config, "maxOutputTokens"),
        sampling=sampling,
        stops=_stops(get(config, "stopSequences")),
        n=_candidates(get(config, "candidateCount")),
        effort=_effort(thinking, efforts),
        include_thoughts=get(thinking, "includeThoughts") is True,
        instruction=_format_instruction(config),
    )


def _stops(value: Any) -> tuple[str, ...]:
    where = "generationConfig.stopSequences"
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value) or len(value) > MAX_STOPS:
        raise InvalidRequestError(f"{where}: must be up to {MAX_STOPS} strings", param=where)
    return tuple(s for s in value if s)


def _candidates(value: Any) -> int:
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CANDIDATES:
        where = "generationConfig.candidateCount"
        raise InvalidRequestError(f"{where}: must be an integer from 1 to {MAX_CANDIDATES}", param=where)
    return value


def _effort(thinking: Any, efforts: Sequence[str]) -> str | None:
    """`thinkingLevel`, else `thinkingBudget` (0 turns thinking off, -1 leaves it to the model)."""
    where = "generationConfig.thinkingConfig"
    level = get(thinking, "thinkingLevel")
    if isinstance(level, str) and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
        return upstream_effort(efforts, level.lower(), f"{where}.thinkingLevel")
    budget = get(thinking, "thinkingBudget")
    if budget is None or budget == -1:
        return None
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise InvalidRequestError(f"{where}.thinkingBudget: must be -1, 0 or a positive integer", param=where)
    return upstream_effort(efforts, "none" if budget == 0 else effort_from_budget(budget))


def _format_instruction(config: dict[str, Any]) -> str | None:
    mime = get(config, "responseMimeType")
    schema = get(config, "responseJsonSchema")
    gemini_schema = get(config, "responseSchema")
    if schema is None and gemini_schema is not None:
        schema = to_json_schema(gemini_schema, "generationConfig.responseSchema")
    if mime == "text/x.enum" and isinstance(schema, dict) and isinstance(schema.get("enum"), list):
        values = ", ".join(str(v) for v in schema["enum"])
        return f"Respond with exactly one of these values and nothing else: {values}"
    if mime != "application/json":
        return None
    if schema is None:
        return common.response_format_instruction({"type": "json_object"})
    return common.response_format_instruction({"type": "json_schema", "json_schema": {"schema": schema}})
