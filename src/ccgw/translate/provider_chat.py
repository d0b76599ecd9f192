"""Request bodies for the Provider API's `/provider/v1/chat/completions` (OpenAI format; pure functions).

Two ways in (upstream-protocol.md §8):

* :func:`chat_body` — any client's request, from ccgw's internal params (the AI SDK vocabulary the CLI
  endpoint takes): the system blocks become one system message, reasoning parts `reasoning_content`
  (the replay the Provider API reads), tool calls and results OpenAI's own, images `image_url` data URLs.
* :func:`native_chat_body` — an OpenAI chat client asking for an OpenAI or open model: the client's body
  nearly as it came. Kept: its messages (roles, names, `developer`), `tools`, `tool_choice`,
  `response_format`, `stop`, sampling fields. Changed: the model (resolved), `max_tokens` (the clamp or
  default, in place of `max_completion_tokens`), `reasoning_effort` (moved to a level the model has),
  remote images (fetched into data URLs), images to a text-only model (a note, as on the CLI path),
  `reasoning` history renamed `reasoning_content` and the remembered reasoning put back on tool-call turns
  that lost it (DeepSeek refuses them without), images returned by tools moved to a following user
  message (tool messages are text only), `n` dropped (ccgw fans out), and the stream always on with its
  usage (`stream_options.include_usage`). Legacy `functions` requests take :func:`chat_body`.

Both ask for a stream with usage: ccgw always streams upstream and folds non-streaming answers itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccgw.cli_models import lookup
from ccgw.jsonutil import dumps_str
from ccgw.translate.common import REASONING_PLACEHOLDER, ReasoningLookup, image_note

NATIVE_FIELDS = (
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "stop",
    "response_format",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "user",
)


def streamed(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "stream": True, "stream_options": {"include_usage": True}}


def system_text(system: Any) -> str:
    """ccgw's system blocks as one text (every block but the last already ends in a newline)."""
    if isinstance(system, str):
        return system
    return "".join(b.get("text", "") for b in system or () if isinstance(b, dict))


def _user(parts: list[dict[str, Any]]) -> dict[str, Any]:
    if all(p["type"] == "text" for p in parts):
        return {"role": "user", "content": "\n".join(p["text"] for p in parts)}
    content = [
        {"type": "text", "text": p["text"]}
        if p["type"] == "text"
        else {"type": "image_url", "image_url": {"url": p["image"]}}
        for p in parts
    ]
    return {"role": "user", "content": content}


def _assistant(parts: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(p["text"] for p in parts if p["type"] == "text")}
    reasoning = "".join(p["text"] for p in parts if p["type"] == "reasoning")
    if reasoning:
        message["reasoning_content"] = reasoning
    calls = [p for p in parts if p["type"] == "tool-call"]
    if calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = [
            {
                "id": c["toolCallId"],
                "type": "function",
                "function": {"name": c["toolName"], "arguments": dumps_str(c["input"])},
            }
            for c in calls
        ]
    return message


def _messages(message: dict[str, Any]) -> list[dict[str, Any]]:
    role, parts = message["role"], message["content"]
    if role == "user":
        return [_user(parts)]
    if role == "assistant":
        return [_assistant(parts)]
    return [{"role": "tool", "tool_call_id": p["toolCallId"], "content": p["output"]["value"]} for p in parts]


def chat_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """Internal params → a chat completions body."""
    system = system_text(params.get("system"))
    messages = [{"role": "system", "content": system}] if system.strip() else []
    for message in params["messages"]:
        messages.extend(_messages(message))
    body: dict[str, Any] = {"model": params["model"], "messages": messages, "max_tokens": params["max_tokens"]}
    if params.get("tools"):
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
            }
            for t in params["tools"]
        ]
    for name in ("temperature", "reasoning_effort"):
        if params.get(name) is not None:
            body[name] = params[name]
    return streamed(body)


def legacy(body: Mapping[str, Any]) -> bool:
    """Legacy function calling, which only ccgw's own translation reads."""
    messages = body.get("messages") or []
    return bool(body.get("functions") or body.get("function_call")) or any(
        isinstance(m, dict) and m.get("role") == "function" for m in messages
    )


class _Native:
    """The walk over a client's messages (pure; the lookups come in)."""

    def __init__(self, model: str, images: Mapping[str, str], memory: ReasoningLookup) -> None:
        self.model = model
        self.images = images
        self.memory = memory
        info = lookup(model)
        self.text_only = bool(info and info.text_only)
        self.deepseek = model.lower().startswith("deepseek/")

    def part(self, part: Any) -> Any:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            return part
        if self.text_only:
            return image_note(self.model)
        value = part.get("image_url")
        url = value.get("url") if isinstance(value, dict) else value
        if isinstance(url, str) and url in self.images:
            return {**part, "image_url": {**(value if isinstance(value, dict) else {}), "url": self.images[url]}}
        return part

    def assistant(self, message: dict[str, Any]) -> dict[str, Any]:
        message = dict(message)
        reasoning = message.pop("reasoning", None)
        if not message.get("reasoning_content") and isinstance(reasoning, str) and reasoning:
            message["reasoning_content"] = reasoning
        calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
        if calls and not message.get("reasoning_content"):
            remembered = next((r for r in (self.memory.get(str(c.get("id"))) for c in calls) if r), None)
            if remembered or self.deepseek:
                message["reasoning_content"] = remembered or REASONING_PLACEHOLDER
        return message

    def messages(self, messages: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        moved: list[Any] = []  # images tools returned: tool messages are text only
        for message in messages:
            role = message.get("role")
            if role != "tool" and moved:
                out.append(
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "(images returned by the tool calls above)"}, *moved],
                    }
                )
                moved = []
            content = message.get("content")
            if role == "assistant":
                message = self.assistant(message)
            elif isinstance(content, list) and role == "tool":
                moved += [self.part(p) for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
                texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
                message = {**message, "content": "\n".join(texts)}
            elif isinstance(content, list):
                message = {**message, "content": [self.part(p) for p in content]}
            out.append(message)
        if moved:
            out.append(
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "(images returned by the tool calls above)"}, *moved],
                }
            )
        return out


def native_chat_body(
    body: Mapping[str, Any], params: Mapping[str, Any], *, images: Mapping[str, str], memory: ReasoningLookup
) -> dict[str, Any]:
    """An OpenAI chat client's body for an OpenAI or open model, nearly as it came (see the module)."""
    out: dict[str, Any] = {"model": params["model"]}
    out.update((name, body[name]) for name in NATIVE_FIELDS if body.get(name) is not None)
    out["messages"] = _Native(params["model"], images, memory).messages(list(body["messages"]))
    out["max_tokens"] = params["max_tokens"]
    if params.get("reasoning_effort"):
        out["reasoning_effort"] = params["reasoning_effort"]
    return streamed(out)
