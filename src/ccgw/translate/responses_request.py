"""OpenAI Responses request → upstream params (pure; stateless: the conversation is all in `input`).

A run of `reasoning`, assistant `message` and `function_call` items is one assistant turn, replayed
in the upstream's order (reasoning, text, calls); each `function_call_output` is a tool result
named after its call; custom, local-shell and tool-search calls and their outputs are replayed the
same way (their tools: :mod:`responses_tools`). Whatever refers to state OpenAI would have stored
(`previous_response_id`, `item_reference`, stored prompts and conversations, background mode) is a
400, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.translate import common, responses_tools
from ccgw.translate.common import Context, ToolIds, UpstreamRequest
from ccgw.translate.effort import upstream_effort
from ccgw.translate.responses_tools import ResponsesTools

_STATELESS = "ccgw stores nothing"
_STATEFUL = {
    "previous_response_id": f"previous_response_id is not supported: {_STATELESS}; "
    "send the whole conversation in `input` (and set store=false)",
    "conversation": f"conversation is not supported: {_STATELESS}; send the whole conversation in `input`",
    "prompt": f"prompt templates are not supported: {_STATELESS}; send the instructions and input themselves",
    "background": f"background mode is not supported: {_STATELESS} to poll; stream the response instead",
}
_ECHOED = (
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "reasoning",
    "text",
    "metadata",
    "parallel_tool_calls",
    "user",
)
_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output", "tool_search_output")


def remote_image_urls(body: dict[str, Any]) -> list[str]:
    """The http(s) image URLs (in messages and tool outputs) the gateway has to fetch first."""
    items = body.get("input")
    urls: list[str] = []
    for item in items if isinstance(items, list) else []:
        for part in _content_parts(item):
            url = part.get("image_url")
            if part.get("type") == "input_image" and isinstance(url, str) and url.startswith(("http://", "https://")):
                urls.append(url)
    return urls


def _content_parts(item: Any) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        return []
    content = item.get("output") if item.get("type") in _OUTPUTS else item.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def request_echo(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a response object repeats (`store` is false: nothing is stored)."""
    return {**{k: body[k] for k in _ECHOED if body.get(k) is not None}, "store": False}


def _image(part: dict[str, Any], where: str, ctx: Context) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "input_image":
        if part.get("image_url") is None and part.get("file_id") is not None:
            raise InvalidRequestError(
                f"{where}: file_id images are not supported ({_STATELESS}); send image_url as a data or http(s) URL",
                param=f"{where}.file_id",
            )
        return common.image_part(part.get("image_url"), f"{where}.image_url", ctx)
    if kind in ("input_file", "input_audio"):
        raise InvalidRequestError(f"{where}: {kind} parts are not supported (text and images only)", param=where)
    raise InvalidRequestError(f"{where}: unknown content part type {common.shown(kind)}", param=where)


def _output_images(output: Any, where: str, ctx: Context) -> list[dict[str, Any]]:
    parts = output if isinstance(output, list) else []
    return [
        _image(part, f"{where}[{i}]", ctx)
        for i, part in enumerate(parts)
        if isinstance(part, dict) and part.get("type") not in common.TEXT_PART_TYPES
    ]


def _reasoning_text(item: dict[str, Any]) -> str:
    """The reasoning's own text when the client kept it, else its summary."""
    for key, kind in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = item.get(key)
        texts = [
            p["text"]
            for p in (parts if isinstance(parts, list) else [])
            if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
        ]
        if any(texts):
            return "\n\n".join(t for t in texts if t)
    return ""


@dataclass(slots=True)
class _Turn:
    reasoning: list[dict[str, Any]] = field(default_factory=list)
    text: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def message(self) -> dict[str, Any] | None:
        if not self.text and not self.calls:
            return None  # reasoning alone answers nothing
        return {"role": "assistant", "content": [*self.reasoning, *self.text, *self.calls]}


class _Input:
    """Walks `input` once, holding the assistant turn being gathered and the images of a run of
    tool outputs (sent after the run, so no user message splits results the upstream pairs)."""

    def __init__(self, ctx: Context, ids: ToolIds, tools: ResponsesTools) -> None:
        self.ctx = ctx
        self.ids = ids
        self.tools = tools
        self.system: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self._turn = _Turn()
        self._names: dict[str, str] = {}  # upstream call id → tool name
        self._images: list[dict[str, Any]] = []

    def add(self, item: Any, where: str) -> None:
        if not isinstance(item, dict):
            raise InvalidRequestError(f"{where}: input item must be an object", param=where)
        kind = item.get("type", "message")
        if not isinstance(kind, str):
            raise InvalidRequestError(f"{where}.type: must be a string", param=f"{where}.type")
        if kind not in _OUTPUTS:
            self._flush_images()
        if kind == "message":
            self._message(item, where)
        elif kind == "reasoning":
            if self._turn.text or self._turn.calls:
                self._flush_turn()
            text = _reasoning_text(item)
            if text:
                self._turn.reasoning.append({"type": "reasoning", "text": text})
        elif kind in _CALLS:
            self._call(item, where, *_CALLS[kind](item, self.tools))
        elif kind in _OUTPUTS:
            self._flush_turn()
            self._output(item, where)
        elif kind == "additional_tools":
            self.tools.add_all(item.get("tools"), f"{where}.tools")
        elif kind == "item_reference":
            raise InvalidRequestError(f"{where}: item_reference is not supported: {_STATELESS}", param=where)
        else:
            raise InvalidRequestError(
                f"{where}: input items of type {common.shown(kind)} are not supported", param=where
            )

    def end(self) -> list[dict[str, Any]]:
        self._flush_turn()
        self._flush_images()
        return self.messages

    def _message(self, item: dict[str, Any], where: str) -> None:
        role, content = item.get("role"), item.get("content")
        if role in ("system", "developer"):
            text = common.text_of(content, f"{where}.content")
            if text:
                self.system.append(text)
        elif role == "assistant":
            if self._turn.calls:
                self._flush_turn()
            text = common.text_of(content, f"{where}.content")
            if text:
                self._turn.text.append(common.text_part(text))
        elif role == "user":
            self._flush_turn()
            parts = common.user_parts(content, f"{where}.content", lambda p, at: _image(p, at, self.ctx))
            if parts:
                self.messages.append({"role": "user", "content": parts})
        else:
            raise InvalidRequestError(f"{where}.role: must be user, assistant, system or developer", param=where)

    def _call(self, item: dict[str, Any], where: str, name: Any, arguments: Any) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{where}.name: must be a non-empty string", param=f"{where}.name")
        call_id = self.ids.upstream(item.get("call_id") or item.get("id"), f"{where}.call_id")
        self._names[call_id] = name
        self._turn.calls.append(common.tool_call_part(call_id, name, arguments))

    def _output(self, item: dict[str, Any], where: str) -> None:
        call_id = self.ids.upstream(item.get("call_id") or item.get("id"), f"{where}.call_id")
        name = self._names.get(call_id, "unknown_tool")
        if item.get("type") == "tool_search_output":
            self.tools.loaded(item.get("tools"), f"{where}.tools")
            output: Any = "Loaded tools: " + ", ".join(_tool_names(item.get("tools")))
        else:
            output = item.get("output")
        text = responses_tools.output_text(output, f"{where}.output")
        self.messages.append({"role": "tool", "content": [common.tool_result_part(call_id, name, text)]})
        images = _output_images(output, f"{where}.output", self.ctx)
        if images:  # tool results are text only upstream
            self._images += images

    def _flush_turn(self) -> None:
        message = self._turn.message()
        if message:
            self.messages.append(message)
        self._turn = _Turn()

    def _flush_images(self) -> None:
        if self._images:
            self.messages.append(common.tool_images_message(self._images))
            self._images = []


def _tool_names(tools: Any) -> list[str]:
    names = []
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            names.append(tool["name"])
    return names


def _named(item: dict[str, Any], tools: ResponsesTools) -> tuple[Any, Any]:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        return name, None
    upstream = tools.upstream_name(item.get("namespace"), name)
    if item.get("type") == "custom_tool_call":
        return upstream, {"input": item.get("input") if isinstance(item.get("input"), str) else ""}
    return upstream, item.get("arguments")


def _shell(item: dict[str, Any], tools: ResponsesTools) -> tuple[Any, Any]:
    return tools.upstream_name(None, responses_tools.LOCAL_SHELL), responses_tools.shell_arguments(item.get("action"))


def _search(item: dict[str, Any], tools: ResponsesTools) -> tuple[Any, Any]:
    arguments = item.get("arguments")
    return tools.upstream_name(None, responses_tools.TOOL_SEARCH), arguments if isinstance(arguments, dict) else {}


_CALLS = {  # history item type → (upstream tool name, arguments)
    "function_call": _named,
    "custom_tool_call": _named,
    "local_shell_call": _shell,
    "tool_search_call": _search,
}


def _refuse_stateful(body: dict[str, Any]) -> None:
    for name, message in _STATEFUL.items():
        if body.get(name):
            raise InvalidRequestError(message, param=name)


def _input_items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise InvalidRequestError("input: must be a string or an array of items", param="input")
    return value


def _tool_choice(choice: Any, tools: ResponsesTools) -> dict[str, Any]:
    upstream = common.openai_tool_choice(choice)
    if upstream["type"] == "tool" and isinstance(choice, dict):
        upstream["name"] = tools.upstream_name(choice.get("namespace"), upstream["name"])
    return upstream


def _format_instruction(text: Any) -> str | None:
    """`text.format` is chat's `response_format` with the schema one level up."""
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    return common.response_format_instruction({"type": fmt.get("type"), "json_schema": fmt})


def _system(
    body: dict[str, Any], conversation: _Input, tools: list[dict[str, Any]], choice: dict[str, Any]
) -> list[dict[str, Any]]:
    """The upstream `system` (the one place it is built): instructions, system and developer items,
    then the instructions standing in for `text.format` and `tool_choice`."""
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequestError("instructions: must be a string", param="instructions")
    texts = [instructions or "", *conversation.system, _format_instruction(body.get("text")) or ""]
    texts.append(common.tool_choice_instruction(choice, tools) or "")
    return common.system_blocks([(text, False) for text in texts])


def to_upstream(body: dict[str, Any], ctx: Context) -> UpstreamRequest:
    """The upstream request for a Responses body; what ccgw cannot honour is a 400 naming its `param`."""
    _refuse_stateful(body)
    ids = ToolIds()
    tool_set = ResponsesTools()
    tool_set.add_all(body.get("tools"), "tools")
    conversation = _Input(ctx, ids, tool_set)
    for i, item in enumerate(_input_items(body.get("input"))):
        conversation.add(item, f"input[{i}]")
    messages = conversation.end()
    if not messages:
        raise InvalidRequestError("input: at least one user or assistant message is needed", param="input")
    tools = tool_set.finish()
    choice = _tool_choice(body.get("tool_choice"), tool_set)
    finalized, omitted = ctx.finalize(messages)
    params: dict[str, Any] = {
        "model": ctx.model,
        "messages": finalized,
        "tools": tools,
        "system": _system(body, conversation, tools, choice),
        "max_tokens": common.clamp_max_tokens(
            body.get("max_output_tokens"), ctx.max_tokens_default, "max_output_tokens"
        ),
    }
    if body.get("temperature") is not None:
        params["temperature"] = body["temperature"]
    reasoning = body.get("reasoning")
    effort = upstream_effort(
        ctx.efforts, reasoning.get("effort") if isinstance(reasoning, dict) else None, "reasoning.effort"
    )
    if effort:
        params["reasoning_effort"] = effort
    return UpstreamRequest(
        params=params,
        stream=bool(body.get("stream")),
        tool_ids=ids.originals,
        tool_routes=tool_set.routes,
        omitted_images=omitted,
    )
