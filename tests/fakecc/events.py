"""Building blocks of the ``/alpha/generate`` event stream (upstream-protocol.md §3.2, §3.3).

Each event is one flat JSON object, serialised compactly onto one line. ``Turn`` appends events in
stream order and counts what it emitted, so the closing ``finish-step``/``finish`` carry usage that
follows the formula in ``usage.py``. Constant lines are pre-serialised because the fake doubles as a
benchmark upstream.
"""

from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Final

from .catalog import provider_of, wire_model_id
from .usage import build_usage, cost_string

START: Final = '{"type":"start"}'
TEXT_ID: Final = "txt-0"
REASONING_ID: Final = "reasoning-0"
_ALNUM: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


dumps: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a scenario may know about the request; built by the server, read-only for scenarios."""

    model: str
    params: dict[str, Any]
    input_tokens: int
    cache_read: int
    last_user_text: str
    rng: random.Random
    now: float
    generation_id: str
    response_id: str
    plan: str = "go"

    @property
    def tool_names(self) -> list[str]:
        tools = self.params.get("tools") or []
        return [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]


def generation_id(rng: random.Random) -> str:
    return f"gen_{rng.getrandbits(104):026X}"


def response_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def tool_call_id(rng: random.Random, index: int) -> str:
    return f"call_{index:02d}_" + "".join(rng.choices(_ALNUM, k=8))


def iso_timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


@functools.lru_cache(maxsize=1024)
def provider_options_json(model: str, effort: str | None) -> str:
    provider = provider_of(model)
    options: dict[str, Any] = {"gateway": {"caching": "auto", "sort": "ttft", "only": [provider]}}
    if effort is not None:
        options[provider] = {"reasoningEffort": effort}
    return dumps(options)


def echo_json(ctx: RequestContext) -> str:
    """A small echo of the gateway request; the real one also carries the whole prompt and tools."""
    params = ctx.params
    max_tokens = params.get("max_tokens")
    parts = [f'{{"maxOutputTokens":{"null" if max_tokens is None else int(max_tokens)}']
    if "tool_choice" in params:
        parts.append(f',"toolChoice":{dumps(params["tool_choice"])}')
    effort = params.get("reasoning_effort")
    parts.append(f',"providerOptions":{provider_options_json(ctx.model, effort)},"includeRawChunks":false}}')
    return "".join(parts)


def start_step(body_json: str) -> str:
    return f'{{"type":"start-step","request":{{"body":{body_json}}},"warnings":[]}}'


def text_delta(piece: str, block_id: str = TEXT_ID) -> str:
    return f'{{"type":"text-delta","id":"{block_id}","text":{dumps(piece)}}}'


def reasoning_delta(piece: str) -> str:
    return f'{{"type":"reasoning-delta","id":"{REASONING_ID}","text":{dumps(piece)}}}'


def numbered_text_deltas(count: int) -> list[str]:
    """``tok{i} `` deltas built with plain string formatting: fast enough for 100 000 of them."""
    prefix = f'{{"type":"text-delta","id":"{TEXT_ID}","text":"tok'
    return [f'{prefix}{i} "}}' for i in range(count)]


class Turn:
    """Accumulates the lines of one streamed turn and the counts its usage derives from."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.lines: list[str] = []
        self.text_deltas = 0
        self.reasoning_deltas = 0
        self.tool_ids: set[str] = set()
        self.usage: dict[str, Any] | None = None

    def start(self, echo: dict[str, Any] | None = None) -> Turn:
        self.lines.append(START)
        self.lines.append(start_step(echo_json(self.ctx) if echo is None else dumps(echo)))
        return self

    def event(self, obj: dict[str, Any]) -> Turn:
        self.lines.append(dumps(obj))
        return self

    def raw(self, line: str) -> Turn:
        self.lines.append(line)
        return self

    def text(self, pieces: list[str], *, end: bool = True) -> Turn:
        self.text_start()
        self.text_deltas_only(pieces)
        if end:
            self.text_end()
        return self

    def text_start(self) -> Turn:
        return self.raw(f'{{"type":"text-start","id":"{TEXT_ID}"}}')

    def text_end(self) -> Turn:
        return self.raw(f'{{"type":"text-end","id":"{TEXT_ID}"}}')

    def text_deltas_only(self, pieces: list[str]) -> Turn:
        self.lines.extend(text_delta(p) for p in pieces)
        self.text_deltas += len(pieces)
        return self

    def numbered_text(self, count: int) -> Turn:
        self.text_start()
        self.lines.extend(numbered_text_deltas(count))
        self.text_deltas += count
        return self.text_end()

    def reasoning(self, pieces: list[str], *, then_text: list[str] | None = None) -> Turn:
        """A reasoning block; with ``then_text`` it reproduces the capture's interleave, where
        ``text-start`` arrives before ``reasoning-end`` (§3.3 c)."""
        gateway = {"gateway": {"generationId": self.ctx.generation_id}}
        self.event({"type": "reasoning-start", "id": REASONING_ID, "providerMetadata": gateway})
        self.lines.extend(reasoning_delta(p) for p in pieces)
        self.reasoning_deltas += len(pieces)
        if then_text is None:
            return self.raw(f'{{"type":"reasoning-end","id":"{REASONING_ID}"}}')
        self.text_start()
        self.raw(f'{{"type":"reasoning-end","id":"{REASONING_ID}"}}')
        self.text_deltas_only(then_text)
        return self.text_end()

    def tool_input(self, call_id: str, name: str, fragments: list[str]) -> Turn:
        """Provisional, streamed tool arguments; only a following ``tool-call`` is authoritative."""
        self.tool_ids.add(call_id)
        self.event({"type": "tool-input-start", "id": call_id, "toolName": name})
        for fragment in fragments:
            self.event({"type": "tool-input-delta", "id": call_id, "delta": fragment})
        return self.event({"type": "tool-input-end", "id": call_id})

    def tool_call(self, call_id: str, name: str, tool_input: Any) -> Turn:
        self.tool_ids.add(call_id)
        return self.event({"type": "tool-call", "toolCallId": call_id, "toolName": name, "input": tool_input})

    def compute_usage(self, *, cache_write: int = 0) -> dict[str, Any]:
        ctx = self.ctx
        return build_usage(
            ctx.input_tokens,
            text_deltas=self.text_deltas,
            reasoning_deltas=self.reasoning_deltas,
            tool_calls=len(self.tool_ids),
            cache_read=ctx.cache_read,
            cache_write=min(cache_write, ctx.input_tokens - ctx.cache_read),
        )

    def finish(
        self, reason: str = "stop", raw_reason: str | None = None, *, usage: dict[str, Any] | None = None
    ) -> Turn:
        """``finish-step``, ``finish`` and (after it, as captured) ``provider-metadata``."""
        usage = usage if usage is not None else self.compute_usage()
        self.usage = usage
        raw_reason = raw_reason if raw_reason is not None else reason.replace("-", "_")
        reasons = f'"finishReason":{dumps(reason)},"rawFinishReason":{dumps(raw_reason)}'
        metadata = metadata_json(self.ctx, usage)
        self.lines.append(
            f'{{"type":"finish-step",{reasons},"usage":{usage_json(usage, with_raw=True)},'
            f'"providerMetadata":{metadata},"response":{response_json(self.ctx)}}}'
        )
        self.lines.append(f'{{"type":"finish",{reasons},"totalUsage":{usage_json(usage)}}}')
        self.lines.append(f'{{"type":"provider-metadata","providerMetadata":{metadata}}}')
        return self


# ---------------------------------------------------------------------------------------------------
# The finish objects, rendered from templates: json.dumps of these nested dicts was most of the cost
# of a short turn, and every test parses the result back with json.loads.


def usage_json(usage: dict[str, Any], *, with_raw: bool = False) -> str:
    """``usage``/``totalUsage`` as captured; ``raw`` (finish-step only) sits after ``totalTokens``."""
    details, output = usage["inputTokenDetails"], usage["outputTokenDetails"]
    write = f',"cacheWriteTokens":{details["cacheWriteTokens"]}' if "cacheWriteTokens" in details else ""
    raw = f',"raw":{raw_usage_json(usage)}' if with_raw else ""
    return (
        f'{{"inputTokens":{usage["inputTokens"]},"inputTokenDetails":{{"noCacheTokens":'
        f'{details["noCacheTokens"]},"cacheReadTokens":{details["cacheReadTokens"]}{write}}},'
        f'"outputTokens":{usage["outputTokens"]},"outputTokenDetails":{{"textTokens":'
        f'{output["textTokens"]},"reasoningTokens":{output["reasoningTokens"]}}},'
        f'"totalTokens":{usage["totalTokens"]}{raw},"reasoningTokens":{usage["reasoningTokens"]},'
        f'"cachedInputTokens":{usage["cachedInputTokens"]}}}'
    )


def raw_usage_json(usage: dict[str, Any]) -> str:
    """Provider-native usage (OpenAI-compatible names)."""
    details = usage["inputTokenDetails"]
    return (
        f'{{"prompt_tokens":{usage["inputTokens"]},"completion_tokens":{usage["outputTokens"]},'
        f'"total_tokens":{usage["totalTokens"]},"prompt_cache_hit_tokens":{details["cacheReadTokens"]},'
        f'"prompt_cache_miss_tokens":{details["noCacheTokens"]},'
        f'"completion_tokens_details":{{"reasoning_tokens":{usage["reasoningTokens"]}}}}}'
    )


@functools.lru_cache(maxsize=1024)
def routing_json(model: str) -> tuple[str, str]:
    """``(provider key, gateway.routing)`` as JSON fragments, per model."""
    provider = provider_of(model)
    routing = {
        "originalModelId": model,
        "resolvedProvider": provider,
        "canonicalSlug": model,
        "finalProvider": provider,
    }
    return dumps(provider), dumps(routing)


def metadata_json(ctx: RequestContext, usage: dict[str, Any]) -> str:
    """``providerMetadata``: an empty provider entry and ``gateway`` with routing and USD costs."""
    provider, routing = routing_json(ctx.model)
    cost = cost_string(usage["inputTokens"], usage["outputTokens"])
    return (
        f'{{{provider}:{{}},"gateway":{{"routing":{routing},"cost":"{cost}","marketCost":"{cost}",'
        f'"inferenceCost":"{cost}","generationId":"{ctx.generation_id}"}}}}'
    )


def response_json(ctx: RequestContext) -> str:
    return (
        f'{{"id":"{ctx.response_id}","timestamp":"{iso_timestamp(ctx.now)}",'
        f'"modelId":{dumps(wire_model_id(ctx.model))},"headers":{{"content-type":"text/event-stream",'
        f'"x-generation-id":"{ctx.generation_id}"}}}}'
    )
