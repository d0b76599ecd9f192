"""What the fake Provider API refuses, following upstream-protocol.md §8 and the Provider API page (seed 000).

- Chat completions: one completion per request (``n > 1`` refused at the schema layer), text and image
  parts only, tool schemas rooted at ``type: object``, DeepSeek tool turns only with their
  ``reasoning_content`` replayed; Claude ids answer 400 naming ``/provider/v1/messages``.
- Messages: Claude ids only (others answer 400 naming ``/provider/v1/chat/completions``), no unknown
  top-level fields, ``thinking`` only ``{type: adaptive}`` with the strength in ``output_config.effort``,
  no ``temperature`` other than 1 with thinking, ``max_tokens`` within the model's own ceiling, no
  ``role: system`` messages, no empty text blocks, no document blocks, and a replayed ``thinking`` block
  only with the signature the fake issued for it.

Each check returns the first refusal as an :class:`HttpError`, or None.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .catalog import MESSAGES, Model
from .errors import HttpError, error_json
from .provider_wire import messages_error, signature

CHAT_PARTS: Final = ("text", "image_url")
MESSAGES_FIELDS: Final = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
    }
)
TOOL_FIELDS: Final = frozenset({"name", "description", "input_schema", "cache_control", "type"})
EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")
USER_BLOCKS: Final = ("text", "image", "tool_result")
ASSISTANT_BLOCKS: Final = ("text", "thinking", "redacted_thinking", "tool_use")


def bad(message: str) -> HttpError:
    return error_json(400, message, "invalid_request_error")


def anthropic_bad(message: str) -> HttpError:
    return HttpError(400, json.dumps({**messages_error(400, message), "request_id": "req_fake"}))


def chat_model_error(model: Model | None, name: Any) -> HttpError | None:
    if model is None:
        return error_json(404, f"Model/provider not recognized: {name}", "MODEL_NOT_FOUND")
    if model.endpoints == MESSAGES:
        return bad(f'Model "{model.id}" must be called via /provider/v1/messages (Anthropic Messages shape)')
    return None


def messages_model_error(model: Model | None, name: Any) -> HttpError | None:
    if model is None:
        return anthropic_bad(f"Model/provider not recognized: {name}")
    if model.endpoints != MESSAGES:
        return anthropic_bad(
            f'Model "{model.id}" is not served here. Use /provider/v1/chat/completions for OpenAI and OSS models.'
        )
    return None


def check_chat(body: Any) -> HttpError | None:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return bad("Invalid input: expected string, received undefined at model")
    if body.get("n") not in (None, 1):
        return bad("Too big: expected number to be <=1 at n")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return bad("Too small: expected array to have >=1 items at messages")
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        for j, part in enumerate(content if isinstance(content, list) else []):
            if not isinstance(part, dict) or part.get("type") not in CHAT_PARTS:
                return bad(f'Invalid input: expected "text" | "image_url" at messages.{i}.content.{j}.type')
    for i, tool in enumerate(body.get("tools") or []):
        schema = (tool.get("function") or {}).get("parameters") if isinstance(tool, dict) else None
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return bad(f"Invalid schema for function at tools.{i}: schema must be a JSON Schema of 'type: \"object\"'")
    if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 200_000:
        return bad("Too big: expected number to be <=200000 at max_tokens")
    return None


def check_chat_reasoning(body: dict[str, Any]) -> HttpError | None:
    """DeepSeek's thinking mode: a tool-call turn must come back with its `reasoning_content`."""
    if not body["model"].startswith("deepseek/") or body.get("reasoning_effort") == "off":
        return None
    for message in body["messages"]:
        if message.get("role") == "assistant" and message.get("tool_calls") and not message.get("reasoning_content"):
            return bad("The reasoning_content in the thinking mode must be passed back to the API.")
    return None


def check_messages(body: Any, model: Model) -> HttpError | None:
    extra = sorted(set(body) - MESSAGES_FIELDS)
    if extra:
        return anthropic_bad(f"{extra[0]}: Extra inputs are not permitted")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return anthropic_bad("max_tokens: Field required")
    if max_tokens > model.max_output:
        return anthropic_bad(
            f"max_tokens: {max_tokens} > {model.max_output}, which is the maximum allowed number of output tokens "
            f"for {model.id}"
        )
    return _thinking_error(body) or _tools_error(body.get("tools")) or _messages_error(body.get("messages"))


def _thinking_error(body: dict[str, Any]) -> HttpError | None:
    thinking = body.get("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind != "adaptive":
            return anthropic_bad(
                f'"thinking.type.{kind}" is not supported for this model. Use "thinking.type.adaptive" and '
                '"output_config.effort" to control thinking behavior.'
            )
        if body.get("temperature") not in (None, 1):
            return anthropic_bad("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode")
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        return anthropic_bad(f"output_config.effort: Input should be {', '.join(EFFORTS)}")
    return None


def _tools_error(tools: Any) -> HttpError | None:
    for i, tool in enumerate(tools or []):
        extra = sorted(set(tool) - TOOL_FIELDS)
        if extra:
            return anthropic_bad(f"tools.{i}.custom.{extra[0]}: Extra inputs are not permitted")
        if (tool.get("input_schema") or {}).get("type") != "object":
            return anthropic_bad(f"tools.{i}.custom.input_schema.type: Field required")
    return None


def _messages_error(messages: Any) -> HttpError | None:
    if not isinstance(messages, list) or not messages:
        return anthropic_bad("messages: Field required")
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return anthropic_bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
        for j, block in enumerate(blocks):
            refusal = _block_error(block, allowed, f"messages.{i}.content.{j}")
            if refusal is not None:
                return refusal
    return None


def _block_error(block: dict[str, Any], allowed: tuple[str, ...], where: str) -> HttpError | None:
    kind = block.get("type")
    if kind not in allowed:
        return anthropic_bad(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags")
    if kind == "text" and not block.get("text"):
        return anthropic_bad(f"{where}: text content blocks must be non-empty")
    if kind == "thinking":
        if not block.get("signature"):
            return anthropic_bad(f"{where}.thinking.signature: Field required")
        if block["signature"] != signature(block.get("thinking", "")):
            return anthropic_bad(f"{where}: Invalid `signature` in `thinking` block")
    if kind == "image" and (block.get("source") or {}).get("type") not in ("base64", "url"):
        return anthropic_bad(f"{where}.source: Input tag does not match 'base64' or 'url'")
    return None
