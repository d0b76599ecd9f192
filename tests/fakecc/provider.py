"""Requests to the fake Provider API, read so the scenario library can answer them (upstream-protocol.md §8).

The scenarios were written for ``/alpha/generate``: they read the model, the tools (``name`` and
``input_schema``) and the messages in the AI SDK vocabulary (a ``fake:`` marker in the last user text, a
conversation that ends in a tool result). :func:`scenario_params` gives them that view of an OpenAI chat
or Anthropic messages body, splitting an Anthropic user turn as ccgw's CLI path does (its tool results
first), so the same marker or tool loop picks the same answer on every path.

Input tokens follow ``usage.py``'s formula over ``[system, messages, tools]`` of the body as sent, without
the CLI endpoint's injected default prompt (the Provider API adds none).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from .usage import text_tokens

API_KEY_RE: Final = re.compile(r"^(user_[A-Za-z0-9_-]+)$")
_compact: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def api_key(headers: dict[str, str]) -> str | None:
    """The key of a Provider request: a Bearer token, or Anthropic's `x-api-key`."""
    auth = headers.get("authorization", "")
    candidate = auth[7:] if auth.startswith("Bearer ") else headers.get("x-api-key", "")
    match = API_KEY_RE.match(candidate)
    return match.group(1) if match else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts = [b.get("text") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str))


def _result(text: str) -> dict[str, Any]:
    return {"type": "tool-result", "output": {"type": "text", "value": text}}


def _chat_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            part = _result(_text(message.get("content")))
            if out and out[-1]["role"] == "tool":
                out[-1]["content"].append(part)
            else:
                out.append({"role": "tool", "content": [part]})
        elif role in ("user", "assistant"):
            out.append({"role": role, "content": [{"type": "text", "text": _text(message.get("content"))}]})
    return out


def _messages_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        results = [_result(_text(b.get("content"))) for b in blocks if b.get("type") == "tool_result"]
        if results:
            out.append({"role": "tool", "content": results})
        rest = [b for b in blocks if b.get("type") != "tool_result"]
        if rest or not results:
            out.append({"role": message.get("role"), "content": [{"type": "text", "text": _text(rest)}]})
    return out


def scenario_params(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """The `params` a scenario reads: model, messages in the AI SDK vocabulary, tools, effort."""
    if endpoint == "chat":
        functions = [t.get("function") or {} for t in body.get("tools") or []]
        tools = [{"name": f.get("name"), "input_schema": f.get("parameters") or {}} for f in functions]
        messages = _chat_messages(body["messages"])
        effort = body.get("reasoning_effort")
    else:
        tools = [{"name": t.get("name"), "input_schema": t.get("input_schema") or {}} for t in body.get("tools") or []]
        messages = _messages_messages(body["messages"])
        effort = (body.get("output_config") or {}).get("effort")
    params = {"model": body["model"], "messages": messages, "tools": tools, "max_tokens": body.get("max_tokens")}
    if effort is not None:
        params["reasoning_effort"] = effort
    return params


def provider_input_tokens(body: dict[str, Any]) -> int:
    return text_tokens(_compact([body.get("system") or "", body.get("messages") or [], body.get("tools") or []]))
