"""Anthropic Messages request → upstream params (pure; the body is already JSON-validated).

Anthropic keeps tool results inside user messages; the upstream wants them as `tool` messages, so a
user turn splits into its tool results first and its other blocks after. `thinking` blocks are
replayed as `reasoning` parts; `cache_control` breakpoints on `system` blocks are kept (the CLI sends
them there), elsewhere accepted and dropped; server tools (web search, computer use, tool search ...)
cannot run upstream and are left out. System messages inside `messages` are placed by
:mod:`messages_system`.

Tool search: a tool with `defer_loading` is meant to stay hidden until a `tool_reference` block (in
a tool result, e.g. from Claude Code's own ToolSearch tool) loads it, so ccgw sends it upstream only
once referenced. When the request asks for Anthropic's server-side tool search, which the upstream
cannot run, every deferred tool is sent at once instead: visible early rather than never.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.translate import common, messages_system
from ccgw.translate.common import Context, ToolIds, UpstreamRequest
from ccgw.translate.effort import effort_from_budget, upstream_effort

_CUSTOM_TOOL_TYPES = (None, "custom")
_TOOL_SEARCH_PREFIX = "tool_search_tool_"  # Anthropic's server-side tool search (regex, bm25)


def _image_url(block: dict[str, Any]) -> str | None:
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if source.get("type") == "url":
        url = source.get("url")
        return url if isinstance(url, str) else None
    return None


def remote_image_urls(body: dict[str, Any]) -> list[str]:
    urls: list[str] = []

    def visit(blocks: Any) -> None:
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "image":
                url = _image_url(block)
                if url and url.startswith(("http://", "https://")):
                    urls.append(url)
            elif block.get("type") == "tool_result":
                visit(block.get("content"))

    for message in body.get("messages") or []:
        if isinstance(message, dict):
            visit(message.get("content"))
    return urls


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}: content must be a string or an array of blocks", param=where)
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidRequestError(f"{where}[{i}]: each block must be an object with a type", param=f"{where}[{i}]")
    return content


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequestError(f"{where}: text must be a string", param=where)
    return text


class _State:
    """What the walk over `messages` learns: tool names by call id, tools loaded by reference."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ids = ToolIds()
        self.names: dict[str, str] = {}
        self.referenced: set[str] = set()


def _tool_result(block: dict[str, Any], where: str, state: _State) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    call_id = state.ids.upstream(block.get("tool_use_id"), f"{where}.tool_use_id")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    content = block.get("content")
    for j, inner in enumerate(_blocks(content, f"{where}.content") if content is not None else []):
        at = f"{where}.content[{j}]"
        if inner["type"] == "text":
            texts.append(_text(inner, at))
        elif inner["type"] == "image":
            images.append(common.image_part(_image_url(inner), at, state.ctx))
        elif inner["type"] == "tool_reference" and isinstance(inner.get("tool_name"), str):
            state.referenced.add(inner["tool_name"])
            texts.append(f"Tool {inner['tool_name']} is now available.")
        else:
            raise InvalidRequestError(
                f"{at}: tool results may hold text and images, not {common.shown(inner['type'])}", param=at
            )
    name = state.names.get(call_id, "unknown_tool")
    part = common.tool_result_part(call_id, name, "\n".join(texts), is_error=block.get("is_error") is True)
    return part, images


def _user(blocks: list[dict[str, Any]], where: str, state: _State) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        kind = block["type"]
        if kind == "text":
            parts.append(common.text_part(_text(block, at)))
        elif kind == "image":
            parts.append(common.image_part(_image_url(block), at, state.ctx))
        elif kind == "tool_result":
            result, images = _tool_result(block, at, state)
            results.append(result)
            moved.extend(images)
        elif kind in ("document", "search_result", "container_upload"):
            raise InvalidRequestError(f"{at}: {kind} blocks are not supported (text, images and tools only)", param=at)
        else:
            raise InvalidRequestError(f"{at}: unknown block type {common.shown(kind)} in a user message", param=at)
    out: list[dict[str, Any]] = []
    if results:
        out.append({"role": "tool", "content": results})
    if moved:  # tool results are text only upstream
        out.append(common.tool_images_message(moved))
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant(blocks: list[dict[str, Any]], where: str, state: _State) -> dict[str, Any] | None:
    reasoning: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        kind = block["type"]
        if kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            reasoning.append({"type": "reasoning", "text": block["thinking"]})
        elif kind == "text":
            text = _text(block, at)
            if text:
                parts.append(common.text_part(text))
        elif kind == "tool_use":
            name = block.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequestError(f"{at}: tool_use needs a name", param=at)
            call_id = state.ids.upstream(block.get("id"), f"{at}.id")
            state.names[call_id] = name
            parts.append(common.tool_call_part(call_id, name, block.get("input")))
        # redacted_thinking, server tool blocks: nothing the upstream can use
    content = reasoning + parts  # reasoning first, as the upstream expects
    return {"role": "assistant", "content": content} if content else None


def _messages(conversation: list[messages_system.Indexed], state: _State) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, message in conversation:
        where = f"messages[{i}].content"
        blocks = _blocks(message.get("content"), where)
        if message["role"] == "user":
            out.extend(_user(blocks, where, state))
        else:
            turn = _assistant(blocks, where, state)
            if turn:
                out.append(turn)
    return out


def offered_tools(body: dict[str, Any], referenced: set[str]) -> list[tuple[int, dict[str, Any]]]:
    """The client's tools that go upstream, with their positions: custom tools only (server tools cannot
    run there), a deferred one once referenced (or all, when server-side tool search was asked for)."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    searching = any(str(t.get("type")).startswith(_TOOL_SEARCH_PREFIX) for t in tools)
    return [
        (i, tool)
        for i, tool in enumerate(tools)
        if tool.get("type") in _CUSTOM_TOOL_TYPES
        and (tool.get("defer_loading") is not True or searching or tool.get("name") in referenced)
    ]


def _tools(body: dict[str, Any], referenced: set[str]) -> list[dict[str, Any]]:
    return [
        common.tool_spec(tool.get("name"), tool.get("description"), tool.get("input_schema"), f"tools[{i}]")
        for i, tool in offered_tools(body, referenced)
    ]


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice is None:
        return {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("auto", "any", "none"):
        return {"type": kind}
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "tool", "name": choice["name"]}
    raise InvalidRequestError("tool_choice: must be auto, any, none, or {type: tool, name}", param="tool_choice")


def _stops(value: Any) -> tuple[str, ...]:
    """Checked here, not only at the edge: count_tokens' schema does not declare `stop_sequences`."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidRequestError("stop_sequences: must be an array of strings", param="stop_sequences")
    return tuple(s for s in value if s)


def _effort(body: dict[str, Any], levels: tuple[str, ...]) -> str | None:
    output = body.get("output_config")
    if isinstance(output, dict) and isinstance(output.get("effort"), str):
        return upstream_effort(levels, output["effort"])
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        return upstream_effort(levels, effort_from_budget(budget))
    return None


def to_upstream(body: dict[str, Any], ctx: Context) -> UpstreamRequest:
    """Params as the CLI sends them: `tools` always, never `tool_choice`, `top_p` or `top_k`."""
    state = _State(ctx)
    leading, conversation = messages_system.fold_system_messages(body["messages"])
    messages = _messages(conversation, state)
    if not messages:
        raise InvalidRequestError("messages: at least one message with content is needed", param="messages")
    tools = _tools(body, state.referenced)
    finalized, omitted = ctx.finalize(messages)
    choice = common.tool_choice_instruction(_tool_choice(body.get("tool_choice")), tools)
    params: dict[str, Any] = {
        "model": ctx.model,
        "messages": finalized,
        "tools": tools,
        "system": messages_system.system_prompt(body.get("system"), leading, choice),
        "max_tokens": common.clamp_max_tokens(body.get("max_tokens"), ctx.max_tokens_default),
    }
    if body.get("temperature") is not None:
        params["temperature"] = body["temperature"]
    effort = _effort(body, ctx.efforts)
    if effort:
        params["reasoning_effort"] = effort
    return UpstreamRequest(
        params=params,
        stream=bool(body.get("stream")),
        stop=_stops(body.get("stop_sequences")),
        tool_ids=state.ids.originals,
        omitted_images=omitted,
    )
