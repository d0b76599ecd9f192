"""OpenAI chat-completions request → upstream params (pure; the body is already JSON-validated).

Accepts what real clients send: string or part-array content, `system` and `developer`
messages anywhere, legacy `function_call`/`function` messages, `reasoning_content` (or
`reasoning`) on assistant turns, and fields ccgw does not use (ignored, never an error).
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.translate import common
from ccgw.translate.common import Context, ToolIds, UpstreamRequest
from ccgw.translate.effort import upstream_effort

MAX_N = 8
MAX_STOPS = 16


def remote_image_urls(body: dict[str, Any]) -> list[str]:
    """The http(s) image URLs the gateway has to fetch before translating."""
    urls: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            url = _image_url(part) if isinstance(part, dict) else None
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                urls.append(url)
    return urls


def _image_url(part: dict[str, Any]) -> Any:
    if part.get("type") != "image_url":
        return None
    value = part.get("image_url")
    return value.get("url") if isinstance(value, dict) else value


def _part(part: dict[str, Any], at: str, ctx: Context) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "image_url":
        return common.image_part(_image_url(part), f"{at}.image_url", ctx)
    if kind in ("input_audio", "file", "input_file"):
        raise InvalidRequestError(f"{at}: {kind} parts are not supported (text and images only)", param=at)
    raise InvalidRequestError(f"{at}: unknown content part type {common.shown(kind)}", param=at)


def _assistant(message: dict[str, Any], where: str, ids: ToolIds, names: dict[str, str]) -> dict[str, Any] | None:
    parts: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"type": "reasoning", "text": reasoning})
    text = common.text_of(message.get("content"), f"{where}.content")
    if text:
        parts.append(common.text_part(text))
    calls = list(message.get("tool_calls") or [])
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"id": f"call_legacy_{legacy.get('name')}", "function": legacy})
    for i, call in enumerate(calls):
        at = f"{where}.tool_calls[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise InvalidRequestError(f"{at}: needs a function.name", param=at)
        call_id = ids.upstream(call.get("id"), f"{at}.id")
        names[call_id] = function["name"]
        parts.append(common.tool_call_part(call_id, function["name"], function.get("arguments")))
    return {"role": "assistant", "content": parts} if parts else None


def _tool_result(
    message: dict[str, Any], where: str, ids: ToolIds, names: dict[str, str], ctx: Context
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if message["role"] == "function":
        name = message.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(
                f"{where}.name: a function message needs the function's name", param=f"{where}.name"
            )
        call_id = ids.upstream(f"call_legacy_{name}", f"{where}.name")
    else:
        call_id = ids.upstream(message.get("tool_call_id"), f"{where}.tool_call_id")
        name = names.get(call_id) or str(message.get("name") or "") or "unknown_tool"
    content = message.get("content")
    images = []
    if isinstance(content, list):
        images = [
            common.image_part(_image_url(p), f"{where}.content[{i}].image_url", ctx)
            for i, p in enumerate(content)
            if isinstance(p, dict) and p.get("type") == "image_url"
        ]
    text = common.text_of(content, f"{where}.content")
    return {"role": "tool", "content": [common.tool_result_part(call_id, name, text)]}, images


def _messages(body: dict[str, Any], ctx: Context, ids: ToolIds) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    images: list[dict[str, Any]] = []  # from a run of tool results; sent after the whole run
    for i, message in enumerate(body["messages"]):
        where = f"messages[{i}]"
        role = message["role"]
        if role not in ("tool", "function") and images:
            messages.append(common.tool_images_message(images))
            images = []
        if role in ("system", "developer"):
            text = common.text_of(message.get("content"), f"{where}.content")
            if text:
                system.append(text)
        elif role == "user":
            parts = common.user_parts(message.get("content"), f"{where}.content", lambda p, at: _part(p, at, ctx))
            if parts:
                messages.append({"role": "user", "content": parts})
        elif role == "assistant":
            turn = _assistant(message, where, ids, names)
            if turn:
                messages.append(turn)
        else:  # tool, function
            result, returned = _tool_result(message, where, ids, names, ctx)
            messages.append(result)
            images.extend(returned)
    if images:
        messages.append(common.tool_images_message(images))
    return system, messages


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise InvalidRequestError(
                f"{where}: only function tools are supported, not {common.shown(kind)}", param=where
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise InvalidRequestError(f"{where}.function: must be an object", param=f"{where}.function")
        tools.append(
            common.tool_spec(function.get("name"), function.get("description"), function.get("parameters"), where)
        )
    for i, function in enumerate(body.get("functions") or []):  # the legacy spelling
        if isinstance(function, dict):
            tools.append(
                common.tool_spec(
                    function.get("name"),
                    function.get("description"),
                    function.get("parameters"),
                    f"functions[{i}]",
                )
            )
    return tools


def _stops(value: Any) -> tuple[str, ...]:
    stops = [value] if isinstance(value, str) else value or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > MAX_STOPS:
        raise InvalidRequestError(f"stop: must be a string or up to {MAX_STOPS} strings", param="stop")
    return tuple(s for s in stops if s)


def _system(system: list[str], body: dict[str, Any], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The upstream `system` (the one place it is built): system and developer messages, then the
    instructions standing in for `response_format` and `tool_choice`."""
    texts = [(text, False) for text in system]
    texts.append((common.response_format_instruction(body.get("response_format")) or "", False))
    choice = common.openai_tool_choice(body.get("tool_choice"))
    texts.append((common.tool_choice_instruction(choice, tools) or "", False))
    return common.system_blocks(texts)


def to_upstream(body: dict[str, Any], ctx: Context) -> UpstreamRequest:
    """Params as the CLI sends them: `tools` always, never `tool_choice` or `top_p` (see `_system`)."""
    ids = ToolIds()
    system, messages = _messages(body, ctx, ids)
    if not messages:
        raise InvalidRequestError("messages: at least one user or assistant message is needed", param="messages")
    tools = _tools(body)
    finalized, omitted = ctx.finalize(messages)
    requested = body.get("max_completion_tokens") or body.get("max_tokens")
    params: dict[str, Any] = {
        "model": ctx.model,
        "messages": finalized,
        "tools": tools,
        "system": _system(system, body, tools),
        "max_tokens": common.clamp_max_tokens(requested, ctx.max_tokens_default),
    }
    if body.get("temperature") is not None:
        params["temperature"] = body["temperature"]
    effort = upstream_effort(ctx.efforts, body.get("reasoning_effort"))
    if effort:
        params["reasoning_effort"] = effort
    options = body.get("stream_options")
    return UpstreamRequest(
        params=params,
        stream=bool(body.get("stream")),
        n=body.get("n") or 1,
        stop=_stops(body.get("stop")),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        tool_ids=ids.originals,
        omitted_images=omitted,
    )
