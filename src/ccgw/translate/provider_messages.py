"""Request bodies for the Provider API's `/provider/v1/messages` (Anthropic format, Claude only; pure).

The endpoint's rules (upstream-protocol.md §8, measured by others): `thinking` only `{type: adaptive}`,
and only for models with effort levels, the strength in `output_config.effort`; no `temperature` (nor
`top_k`, nor a `top_p` under 0.95) with thinking; a replayed `thinking` block needs the signature Claude
gave it (ccgw's own stand-in signatures cannot pass, so such blocks are left out, which the endpoint
accepts); `tool_result` may hold images; unknown fields are refused.

* :func:`messages_body` — any other client asking for a Claude model, from ccgw's internal params:
  system blocks as blocks, tool results back inside user turns (with their images), reasoning left out
  (it has no signature), and prompt-cache breakpoints on the system prompt, the last tool and the last
  user block, since Anthropic caches only what is marked.
* :func:`native_messages_body` — an Anthropic client asking for a Claude model: its body nearly as it
  came. Kept: system and message blocks with their `cache_control`, signed thinking blocks,
  `tool_choice`, `stop_sequences`, `metadata.user_id`, sampling fields. Changed: the model (resolved),
  `max_tokens` (clamp or default), `thinking`/`output_config` by the rules above, `role: system`
  messages placed as on the CLI path (`messages_system`), remote images fetched into base64, tools as on
  the CLI path (server tools left out, a deferred tool once referenced; beta fields dropped),
  `tool_reference` blocks as the text the CLI path sends, server-tool blocks and unknown fields dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ccgw.cli_models import lookup
from ccgw.translate import messages_request, messages_system
from ccgw.translate.messages_stream import SIGNATURE_PREFIX

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]+)(?:;[^,]*)?;base64,(?P<data>.*)$", re.DOTALL)
CACHE = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4  # Anthropic's limit on `cache_control` blocks in one request
TOOL_FIELDS = ("name", "description", "input_schema", "cache_control")
NATIVE_FIELDS = ("stop_sequences", "temperature", "top_p", "top_k", "tool_choice")
USER_BLOCKS = ("text", "image", "tool_result")
ASSISTANT_BLOCKS = ("text", "tool_use", "thinking", "redacted_thinking")


def image_block(url: str) -> dict[str, Any]:
    """An image block from a data URL (an http(s) URL stays a URL source)."""
    match = _DATA_URL.match(url)
    if match is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "image", "source": {"type": "base64", "media_type": match["mime"], "data": match["data"]}}


def efforts(model: str) -> tuple[str, ...]:
    info = lookup(model)
    return info.efforts if info else ()


def apply_thinking(body: dict[str, Any], effort: str | None, wanted: bool) -> dict[str, Any]:
    """Adaptive thinking, when asked for and the model has effort levels (and no tool use is forced, which
    Claude refuses with thinking); then without the sampling knobs thinking forbids."""
    body = {k: v for k, v in body.items() if k not in ("thinking", "output_config")}
    choice = body.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
    if not (wanted or effort) or not efforts(body["model"]) or forced:
        return body
    body["thinking"] = {"type": "adaptive"}
    if effort:
        body["output_config"] = {"effort": effort}
    if body.get("temperature") not in (None, 1):
        del body["temperature"]
    body.pop("top_k", None)
    if isinstance(body.get("top_p"), int | float) and body["top_p"] < 0.95:
        del body["top_p"]
    return body


def _merge(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive turns of one role as one turn (tool results then the user's own blocks)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if not message["content"]:
            continue
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {"role": message["role"], "content": out[-1]["content"] + message["content"]}
        else:
            out.append(message)
    return out


def _block(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part["type"]
    if kind == "text":
        return {"type": "text", "text": part["text"]} if part["text"] else None
    if kind == "image":
        return image_block(part["image"])
    if kind == "tool-call":
        return {"type": "tool_use", "id": part["toolCallId"], "name": part["toolName"], "input": part["input"]}
    if kind == "tool-result":
        result = {"type": "tool_result", "tool_use_id": part["toolCallId"], "content": part["output"]["value"]}
        return {**result, "is_error": True} if part["output"]["type"] == "error-text" else result
    return None  # reasoning: no signature, so Claude would refuse it


def _mark_last(blocks: list[dict[str, Any]], budget: int) -> int:
    """A cache breakpoint on the last block (a tool, or a content block), within the budget; returns
    the breakpoints left."""
    if not blocks or budget <= 0 or "cache_control" in blocks[-1]:
        return budget
    blocks[-1]["cache_control"] = CACHE
    return budget - 1


def messages_body(params: Mapping[str, Any], stop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Internal params → a Messages body for a Claude model."""
    turns = (
        {"role": "user" if m["role"] == "tool" else m["role"], "content": [b for p in m["content"] if (b := _block(p))]}
        for m in params["messages"]
    )
    messages = _merge(turns)
    system = [dict(b) for b in params.get("system") or () if b.get("text")]
    tools = [{k: t[k] for k in ("name", "description", "input_schema")} for t in params.get("tools") or ()]
    budget = MAX_BREAKPOINTS - sum("cache_control" in b for b in system)
    for blocks in (system, tools, next((m["content"] for m in reversed(messages) if m["role"] == "user"), [])):
        budget = _mark_last(blocks, budget)
    body: dict[str, Any] = {"model": params["model"], "max_tokens": params["max_tokens"], "messages": messages}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools
    if stop:
        body["stop_sequences"] = list(stop)
    if params.get("temperature") is not None:
        body["temperature"] = params["temperature"]
    return {**apply_thinking(body, params.get("reasoning_effort"), False), "stream": True}


def _referenced(messages: Iterable[Any]) -> set[str]:
    """Tools a `tool_reference` block loaded (Claude Code's tool search)."""
    names: set[str] = set()
    for message in messages:
        for block in message.get("content") if isinstance(message.get("content"), list) else ():
            inner = block.get("content") if isinstance(block, dict) and block.get("type") == "tool_result" else None
            for item in inner if isinstance(inner, list) else ():
                if (
                    isinstance(item, dict)
                    and item.get("type") == "tool_reference"
                    and isinstance(item.get("tool_name"), str)
                ):
                    names.add(item["tool_name"])
    return names


class _Native:
    def __init__(self, images: Mapping[str, str]) -> None:
        self.images = images

    def image(self, block: dict[str, Any]) -> dict[str, Any]:
        source = block.get("source") or {}
        if source.get("type") == "url" and source.get("url") in self.images:
            return {
                **image_block(self.images[source["url"]]),
                **{k: v for k, v in block.items() if k == "cache_control"},
            }
        return block

    def result(self, block: dict[str, Any]) -> dict[str, Any]:
        content = block.get("content")
        if not isinstance(content, list):
            return block
        inner = []
        for item in content:
            if item.get("type") == "tool_reference":
                inner.append({"type": "text", "text": f"Tool {item.get('tool_name')} is now available."})
            elif item.get("type") == "image":
                inner.append(self.image(item))
            elif item.get("type") != "text" or item.get("text"):
                inner.append(item)
        return {**block, "content": inner}

    def blocks(self, role: str, content: Any) -> str | list[dict[str, Any]]:
        if isinstance(content, str):
            return content
        out = []
        for block in content or ():
            kind = block.get("type")
            if kind not in (USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS):
                continue  # server-tool blocks: nothing Claude can take back without the tool
            if kind == "text" and not block.get("text"):
                continue
            signature = block.get("signature")
            if kind == "thinking" and (
                not isinstance(signature, str) or not signature or signature.startswith(SIGNATURE_PREFIX)
            ):
                continue  # unsigned, or ccgw's stand-in: only Claude's own signature passes
            out.append(self.image(block) if kind == "image" else self.result(block) if kind == "tool_result" else block)
        return out


def _system(system: Any, leading: list[str]) -> list[dict[str, Any]] | str | None:
    extra = [{"type": "text", "text": text} for text in leading]
    if not extra:
        return system or None
    own = [{"type": "text", "text": system}] if isinstance(system, str) and system else list(system or ())
    return own + extra


def native_messages_body(
    body: Mapping[str, Any], params: Mapping[str, Any], *, images: Mapping[str, str]
) -> dict[str, Any]:
    """An Anthropic client's body for a Claude model, nearly as it came (see the module)."""
    leading, conversation = messages_system.fold_system_messages(list(body["messages"]))
    native = _Native(images)
    messages = [{"role": m["role"], "content": native.blocks(m["role"], m.get("content"))} for _, m in conversation]
    out: dict[str, Any] = {"model": params["model"], "max_tokens": params["max_tokens"]}
    out["messages"] = [m for m in messages if m["content"]]
    out.update((name, body[name]) for name in NATIVE_FIELDS if body.get(name) is not None)
    system = _system(body.get("system"), leading)
    if system:
        out["system"] = system
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["metadata"] = {"user_id": metadata["user_id"]}
    offered = messages_request.offered_tools(dict(body), _referenced(body["messages"]))
    if offered:
        out["tools"] = [{k: tool[k] for k in TOOL_FIELDS if k in tool} for _, tool in offered]
    thinking = body.get("thinking")
    wanted = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    return {**apply_thinking(out, params.get("reasoning_effort"), wanted), "stream": True}
