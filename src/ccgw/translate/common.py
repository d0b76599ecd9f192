"""Building blocks of the upstream request, shared by every client protocol (§2.3, §2.4).

The upstream speaks the AI SDK `ModelMessage` vocabulary: user/assistant/tool messages whose
content is a list of typed parts. Tool calls and results stay native parts with the real tool
name (never prose); reasoning is replayed as a `reasoning` part before an assistant's text and
calls; tool results are text only, so their images move into a following user message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ccgw.cli_models import ModelInfo, lookup
from ccgw.errors import InvalidRequestError
from ccgw.jsonutil import JSONDecodeError, dumps_str, loads

MAX_TOOL_ID = 64
REASONING_PLACEHOLDER = "(The reasoning for this step is not available.)"
MAX_TOKENS_CAP = 200_000  # the upstream's zod limit: 200,000 passes, 200,704 is refused
MISSING_RESULT = "No result: the tool call did not complete (interrupted or lost)."

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*?);base64,(?P<data>.*)$", re.DOTALL)


class ReasoningLookup(Protocol):
    def get(self, call_id: str, default: None = None, /) -> str | None: ...


if TYPE_CHECKING:
    from ccgw.translate.responses_tools import ToolRoute

_NO_MEMORY: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Context:
    """What a request translator needs besides the client's body; plain data, no I/O."""

    model: str
    max_tokens_default: int = 64000
    images: Mapping[str, str] = field(default_factory=dict)  # remote URL → fetched data URL
    reasoning_memory: ReasoningLookup = field(default_factory=lambda: _NO_MEMORY)  # tool call id → reasoning
    max_image_bytes: int = 20 * 1024 * 1024

    @property
    def requires_reasoning(self) -> bool:
        """DeepSeek's thinking mode refuses tool turns replayed without their reasoning."""
        return self.model.lower().startswith("deepseek/")

    @property
    def info(self) -> ModelInfo | None:
        """What the CLI's table says about the model (None for ids the CLI does not know)."""
        return lookup(self.model)

    @property
    def efforts(self) -> tuple[str, ...]:
        info = self.info
        return info.efforts if info else ()

    def finalize(self, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """The history as the upstream needs it, and how many images were left out (text-only model)."""
        messages = finalize_messages(messages, self.reasoning_memory, require_reasoning=self.requires_reasoning)
        info = self.info
        if info is None or not info.text_only:
            return messages, 0
        return omit_images(messages, self.model)


@dataclass(frozen=True, slots=True)
class ClientBody:
    """The client's own request, for an upstream that speaks the client's dialect (the Provider API)."""

    dialect: str  # the endpoint's name: "chat.completions", "messages", ...
    body: Mapping[str, Any]
    images: Mapping[str, str]  # remote URL → fetched data URL


@dataclass(slots=True)
class UpstreamRequest:
    """A translated request: the upstream `params` plus what the response side needs."""

    params: dict[str, Any]
    stream: bool = False
    n: int = 1
    stop: tuple[str, ...] = ()
    include_usage: bool = False
    tool_ids: dict[str, str] = field(default_factory=dict)  # alias → client's original id
    tool_routes: Mapping[str, ToolRoute] = field(default_factory=dict)  # upstream tool name → client's (Responses)
    conversation: str = ""  # stable seed for the thread id
    variants: tuple[dict[str, Any], ...] = ()  # params per choice, when they differ (several legacy prompts)
    omitted_images: int = 0  # images replaced by a note because the model takes text only
    client: ClientBody | None = None  # set by the route; the Provider path may send it nearly as it came

    def choice_params(self) -> list[dict[str, Any]]:
        """The upstream params of each of the n generations."""
        return list(self.variants) if self.variants else [self.params] * self.n


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters: an error names the bad value, it never echoes 100 kB back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


TEXT_PART_TYPES = ("text", "input_text", "output_text")


def user_parts(
    content: Any, where: str, convert: Callable[[dict[str, Any], str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """OpenAI-style user content (a string, or an array of parts) → upstream parts.

    Text parts are the same in chat and Responses; `convert` turns any other part (at path `at`)
    into an upstream part, or refuses it.
    """
    if isinstance(content, str):
        return [text_part(content)] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}: content must be a string or an array of parts", param=where)
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        at = f"{where}[{i}]"
        if not isinstance(part, dict):
            raise InvalidRequestError(f"{at}: content part must be an object", param=at)
        if part.get("type") not in TEXT_PART_TYPES:
            parts.append(convert(part, at))
        elif isinstance(part.get("text"), str):
            parts.append(text_part(part["text"]))
        else:
            raise InvalidRequestError(f"{at}: text must be a string", param=at)
    return parts


def clamp_max_tokens(requested: Any, default: int, param: str = "max_tokens") -> int:
    """The client's output cap, or the CLI's default, within what the upstream accepts."""
    if requested is None:
        return default
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1:
        raise InvalidRequestError(f"{param}: must be a positive integer", param=param)
    return min(requested, MAX_TOKENS_CAP)


def text_of(content: Any, where: str) -> str:
    """Text from string or text-part content (OpenAI system, developer, assistant and tool messages)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}: content must be a string or an array of parts", param=where)
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise InvalidRequestError(f"{where}[{i}]: content part must be an object", param=f"{where}[{i}]")
        if part.get("type") in ("text", "input_text", "output_text", "refusal"):
            value = part.get("text", part.get("refusal"))
            if not isinstance(value, str):
                raise InvalidRequestError(f"{where}[{i}]: text must be a string", param=f"{where}[{i}]")
            texts.append(value)
    return "\n".join(texts)


def openai_tool_choice(choice: Any) -> dict[str, Any]:
    """OpenAI's `tool_choice` (chat and Responses spell it alike) → Anthropic-style `{type, name?}`."""
    if choice is None or choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    raise InvalidRequestError(f"tool_choice: unsupported value {shown(choice)}", param="tool_choice")


def tool_choice_instruction(choice: dict[str, Any], tools: list[dict[str, Any]]) -> str | None:
    """`tool_choice` as an instruction: the CLI never sends the field, so ccgw does not either.

    Tools stay in the request either way, so a history with tool calls stays valid.
    """
    if not tools or choice["type"] == "auto":
        return None
    if choice["type"] == "none":
        return "Do not call any tool in this reply; answer with text only."
    if choice["type"] == "tool":
        return f"In this reply, call the tool `{choice['name']}`."
    return "In this reply, call at least one of the available tools."


def system_blocks(texts: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """The CLI's `system`: text blocks, every one but the last ending in a newline, with the
    client's cache breakpoints (`(text, cache)` pairs; empty texts are dropped)."""
    kept = [(text, cache) for text, cache in texts if text]
    last = len(kept) - 1
    blocks = []
    for i, (text, cache) in enumerate(kept):
        block: dict[str, Any] = {"type": "text", "text": text if i == last else f"{text}\n"}
        if cache:
            block["cache_control"] = {"type": "ephemeral"}
        blocks.append(block)
    return blocks


def image_note(model: str) -> dict[str, Any]:
    return text_part(f"[image omitted: {model} takes text only]")


def omit_images(messages: list[dict[str, Any]], model: str) -> tuple[list[dict[str, Any]], int]:
    """Every image replaced by a short note, as the CLI does for a text-only model."""
    omitted = 0
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list) and any(p.get("type") == "image" for p in content):
            omitted += sum(p.get("type") == "image" for p in content)
            message = {**message, "content": [image_note(model) if p.get("type") == "image" else p for p in content]}
        out.append(message)
    return out, omitted


def response_format_instruction(value: Any) -> str | None:
    """OpenAI's JSON output modes become an instruction: the upstream has no structured-output switch."""
    if not isinstance(value, dict):
        return None
    if value.get("type") == "json_object":
        return "Respond only with a single valid JSON object, without code fences."
    if value.get("type") == "json_schema":
        schema = value.get("json_schema")
        schema = schema.get("schema") if isinstance(schema, dict) else None
        return "Respond only with JSON, without code fences, that validates against this JSON Schema: " + dumps_str(
            schema or {}
        )
    return None


def tool_images_message(images: list[dict[str, Any]]) -> dict[str, Any]:
    """Images that tools returned, as the user message that follows the results (results are text only)."""
    return {"role": "user", "content": [text_part("(images returned by the tool calls above)"), *images]}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def data_url_part(url: str, where: str, max_bytes: int) -> dict[str, Any]:
    """An upstream image part from a base64 data URL, validated (400 naming `where` if bad)."""
    match = _DATA_URL.match(url)
    if not match:
        raise InvalidRequestError(f"{where}: image is not a base64 data URL or http(s) URL", param=where)
    mime = (match.group("mime") or "").lower()
    if not mime.startswith("image/"):
        raise InvalidRequestError(
            f"{where}: data URL media type {shown(mime or '(none)')} is not an image", param=where
        )
    data = match.group("data").strip()
    if not data:
        raise InvalidRequestError(f"{where}: image data is empty", param=where)
    if len(data) * 3 // 4 > max_bytes:
        raise InvalidRequestError(f"{where}: image is larger than {max_bytes} bytes", param=where)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        data = "".join(data.split())  # base64 wrapped at 76 columns is still base64
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(f"{where}: image data is not valid base64", param=where) from None
    return {"type": "image", "image": f"data:{mime};base64,{data}", "mimeType": mime}


def image_part(url: Any, where: str, ctx: Context) -> dict[str, Any]:
    """An image given as a data URL or as a remote URL already fetched into `ctx.images`."""
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(f"{where}: image URL must be a non-empty string", param=where)
    if url.startswith(("http://", "https://")):
        fetched = ctx.images.get(url)
        if fetched is None:
            raise InvalidRequestError(f"{where}: remote image URLs are disabled in this gateway", param=where)
        url = fetched
    return data_url_part(url, where, ctx.max_image_bytes)


def tool_spec(name: Any, description: Any, schema: Any, where: str) -> dict[str, Any]:
    """An upstream tool; the upstream refuses any schema whose root is not `type: object`."""
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{where}: tool name must be a non-empty string", param=where)
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"{where}: tool parameters must be a JSON Schema object", param=where)
    root = schema.get("type")
    if root is None:
        schema = {**schema, "type": "object"}
        schema.setdefault("properties", {})
    elif root != "object":
        raise InvalidRequestError(
            f"{where}: tool {shown(name)} parameters must be a JSON Schema of type 'object', not {shown(root)}",
            param=where,
        )
    return {
        "name": name,
        "description": description if isinstance(description, str) else "",
        "input_schema": schema,
    }


class ToolIds:
    """Client tool-call ids → upstream ids of at most 64 characters.

    Long ids get a deterministic alias (the same in every turn, so prompt caching keeps working)
    and :attr:`originals` maps the alias back.
    """

    def __init__(self) -> None:
        self.originals: dict[str, str] = {}

    def upstream(self, call_id: Any, where: str) -> str:
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(f"{where}: tool call id must be a non-empty string", param=where)
        if len(call_id) <= MAX_TOOL_ID:
            return call_id
        alias = "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:40]
        self.originals[alias] = call_id
        return alias


def tool_call_part(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "type": "tool-call",
        "toolCallId": call_id,
        "toolName": name,
        "input": arguments_object(arguments),
    }


def arguments_object(arguments: Any) -> dict[str, Any]:
    """Tool input as an object, whatever the client stored (JSON text, object, garbage)."""
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            value = loads(arguments)
        except JSONDecodeError:
            return {"_raw_arguments": arguments}
        return value if isinstance(value, dict) else {"_raw_arguments": arguments}
    return {} if arguments is None else {"_raw_arguments": str(arguments)}


def tool_result_part(call_id: str, name: str, text: str, *, is_error: bool = False) -> dict[str, Any]:
    output_type = "error-text" if is_error else "text"
    return {
        "type": "tool-result",
        "toolCallId": call_id,
        "toolName": name,
        "output": {"type": output_type, "value": text},
    }


def _calls(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if message.get("role") != "assistant" or not isinstance(content, list):
        return []
    return [p for p in content if p.get("type") == "tool-call"]


def finalize_messages(
    messages: list[dict[str, Any]], reasoning_memory: ReasoningLookup, *, require_reasoning: bool = False
) -> list[dict[str, Any]]:
    """Repair a history the way the upstream needs it.

    * An assistant tool-call turn without reasoning gets the reasoning ccgw remembers for those
      calls (DeepSeek's thinking mode rejects tool turns whose reasoning was dropped); with
      `require_reasoning`, a placeholder when nothing is remembered (history from another client).
    * A tool call that never got a result gets a synthetic error result, since the upstream
      refuses unpaired calls.
    * Consecutive tool messages merge into one.
    """
    out: list[dict[str, Any]] = []
    pending: dict[str, str] = {}  # call id → tool name, awaiting a result
    for message in messages:
        role = message["role"]
        if role != "tool" and pending:
            out.append(_missing_results(pending))
            pending = {}
        if role == "assistant":
            calls = _calls(message)
            message = _with_remembered_reasoning(message, calls, reasoning_memory, require_reasoning)
            pending = {c["toolCallId"]: c["toolName"] for c in calls}
        elif role == "tool":
            for part in message["content"]:
                pending.pop(part.get("toolCallId"), None)
            if out and out[-1]["role"] == "tool":
                out[-1] = {"role": "tool", "content": out[-1]["content"] + message["content"]}
                continue
        out.append(message)
    if pending:
        out.append(_missing_results(pending))
    return out


def _missing_results(pending: Mapping[str, str]) -> dict[str, Any]:
    parts = [tool_result_part(i, n, MISSING_RESULT, is_error=True) for i, n in pending.items()]
    return {"role": "tool", "content": parts}


def _with_remembered_reasoning(
    message: dict[str, Any], calls: list[dict[str, Any]], memory: ReasoningLookup, required: bool
) -> dict[str, Any]:
    content = message["content"]
    if not calls or any(p.get("type") == "reasoning" for p in content):
        return message
    remembered = next((r for r in (memory.get(c["toolCallId"]) for c in calls) if r), None)
    if remembered is None and not required:
        return message
    return {**message, "content": [{"type": "reasoning", "text": remembered or REASONING_PLACEHOLDER}, *content]}
