"""Request validation of the fake ``/alpha/generate``, as strict as the real upstream is known to be.

Rules and wording follow upstream-protocol.md §2 and §4.2: the gateway's zod schema (prose such as
``Invalid input: expected number, received undefined at max_tokens`` and
``Too big: expected number to be <=200000``), the envelope's nine ``config`` keys and UUID-v4
``threadId`` (§2.1), AI SDK message parts (§2.4), the provider's tool-schema and ``call_id`` limits
(§2.3, §2.4) and DeepSeek's demand that thinking be replayed on tool loops (§2.4, §4.2).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from . import errors
from .errors import HttpError

MAX_TOKENS_CAP: Final = 200_000
MAX_CALL_ID: Final = 64
CONFIG_TYPES: Final = {
    "workingDir": "string",
    "date": "string",
    "environment": "string",
    "structure": "array",
    "isGitRepo": "boolean",
    "currentBranch": "string",
    "mainBranch": "string",
    "gitStatus": "string",
    "recentCommits": "array",
}
PERMISSION_MODES: Final = ("default", "standard", "auto-accept", "plan", "bypass")
ROLE_PARTS: Final = {
    "user": ("text", "image"),
    "assistant": ("text", "reasoning", "tool-call"),
    "tool": ("tool-result",),
}
TOOL_CHOICES: Final = ("auto", "any", "tool", "none")
TOOL_OUTPUTS: Final = ("text", "error-text")
UUID4_RE: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)

_MISSING: Final = object()
_PY_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "string": str,
    "boolean": bool,
    "number": (int, float),
    "array": list,
    "object": dict,
}
_JSON_TYPES: Final = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}


class Invalid(Exception):
    def __init__(self, error: HttpError) -> None:
        super().__init__(error.body)
        self.error = error


def validate_generate(body: Any, *, require_max_tokens: bool = True) -> HttpError | None:
    """The first rule ``body`` breaks, as the upstream's 400, or None when it would be accepted."""
    try:
        check_envelope(body)
        check_params(body["params"], require_max_tokens=require_max_tokens)
    except Invalid as exc:
        return exc.error
    return None


def check_deepseek_reasoning(params: dict[str, Any]) -> HttpError | None:
    """DeepSeek thinking mode refuses a history whose assistant tool-call turn lacks its reasoning."""
    if not str(params.get("model", "")).startswith("deepseek/") or params.get("reasoning_effort") == "off":
        return None
    for message in params.get("messages") or []:
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        kinds = {part.get("type") for part in message["content"]}
        if "tool-call" in kinds and "reasoning" not in kinds:
            message_text = "The reasoning_content in the thinking mode must be passed back to the API."
            return errors.bad_request(message_text, "invalid_request_error")
    return None


# ---------------------------------------------------------------------------------------------------
# zod-style failures


def type_name(value: Any) -> str:
    if value is _MISSING:
        return "undefined"
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), "unknown")


def fail(message: str, path: str, code: str = "BAD_REQUEST") -> Invalid:
    return Invalid(errors.bad_request(f"{message} at {path}" if path else message, code))


def expect(kind: str, value: Any, path: str) -> None:
    if isinstance(value, _PY_TYPES[kind]) and (kind != "number" or not isinstance(value, bool)):
        return
    if type_name(value) != kind:
        raise fail(f"Invalid input: expected {kind}, received {type_name(value)}", path)


def expect_option(value: Any, options: tuple[str, ...], path: str) -> None:
    if value not in options:
        choices = "|".join(f'"{o}"' for o in options)
        raise fail(f"Invalid option: expected one of {choices}", path)


def expect_nonempty_string(value: Any, path: str) -> None:
    expect("string", value, path)
    if not value:
        raise fail("Too small: expected string to have >=1 characters", path)


# ---------------------------------------------------------------------------------------------------
# Envelope (§2.1)


def check_envelope(body: Any) -> None:
    expect("object", body, "")
    config = body.get("config", _MISSING)
    expect("object", config, "config")
    for key, kind in CONFIG_TYPES.items():
        expect(kind, config.get(key, _MISSING), f"config.{key}")
    for key in ("structure", "recentCommits"):
        for index, item in enumerate(config[key]):
            expect("string", item, f"config.{key}[{index}]")
    for key in config:
        if key not in CONFIG_TYPES:
            raise fail(f'Unrecognized key: "{key}"', "config")
    for key in ("memory", "taste", "skills"):
        if body.get(key) is not None:
            expect("string", body[key], key)
    if "permissionMode" in body:
        expect_option(body["permissionMode"], PERMISSION_MODES, "permissionMode")
    if "threadId" in body:
        thread_id = body["threadId"]
        if not isinstance(thread_id, str) or not UUID4_RE.match(thread_id):
            raise fail("Invalid UUID", "threadId")
    expect("object", body.get("params", _MISSING), "params")


# ---------------------------------------------------------------------------------------------------
# params (§2.3) — paths are relative to params, as in the upstream's own messages


def check_params(params: dict[str, Any], *, require_max_tokens: bool) -> None:
    expect_nonempty_string(params.get("model", _MISSING), "model")
    check_system(params.get("system"))
    messages = params.get("messages", _MISSING)
    expect("array", messages, "messages")
    check_messages(messages)
    if require_max_tokens or "max_tokens" in params:
        check_max_tokens(params.get("max_tokens", _MISSING))
    if "tools" in params:
        check_tools(params["tools"])
    if "tool_choice" in params:
        check_tool_choice(params["tool_choice"])
    if "stream" in params:
        expect("boolean", params["stream"], "stream")
    if "reasoning_effort" in params:
        expect("string", params["reasoning_effort"], "reasoning_effort")


def check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    expect("array", system, "system")
    for index, block in enumerate(system):
        expect("object", block, f"system[{index}]")
        expect("string", block.get("text", _MISSING), f"system[{index}].text")


def check_max_tokens(value: Any) -> None:
    expect("number", value, "max_tokens")
    if isinstance(value, float) and not value.is_integer():
        raise fail("Invalid input: expected int, received number", "max_tokens")
    if value > MAX_TOKENS_CAP:
        raise fail(f"Too big: expected number to be <={MAX_TOKENS_CAP}", "max_tokens")
    if value < 1:
        raise fail("Too small: expected number to be >=1", "max_tokens")


def check_tools(tools: Any) -> None:
    expect("array", tools, "tools")
    for index, tool in enumerate(tools):
        expect("object", tool, f"tools[{index}]")
        name = tool.get("name", _MISSING)
        expect_nonempty_string(name, f"tools[{index}].name")
        if "description" in tool:
            expect("string", tool["description"], f"tools[{index}].description")
        schema = tool.get("input_schema")
        root = schema.get("type") if isinstance(schema, dict) else None
        if root != "object":
            got = "null" if root is None else json.dumps(root)
            message = (
                f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                f"'type: \"object\"', got 'type: {got}'"
            )
            raise Invalid(errors.bad_request(message, "invalid_function_parameters"))


def check_tool_choice(choice: Any) -> None:
    expect("object", choice, "tool_choice")
    expect_option(choice.get("type"), TOOL_CHOICES, "tool_choice.type")
    if choice["type"] == "tool":
        expect_nonempty_string(choice.get("name", _MISSING), "tool_choice.name")


# ---------------------------------------------------------------------------------------------------
# Messages and parts (§2.4)


def check_messages(messages: list[Any]) -> None:
    item = 0  # position in the provider's flattened ``input[]``, which names over-long call ids
    for index, message in enumerate(messages):
        path = f"messages[{index}]"
        expect("object", message, path)
        role = message.get("role", _MISSING)
        expect_option(role, tuple(ROLE_PARTS), f"{path}.role")
        content = message.get("content", _MISSING)
        if isinstance(content, str) and role != "tool":
            item += 1
            continue
        expect("array", content, f"{path}.content")
        item = check_parts(role, content, f"{path}.content", item)


def check_parts(role: str, parts: list[Any], path: str, item: int) -> int:
    """Checks one message's parts; returns the next flattened ``input[]`` position."""
    calls = [p for p in parts if isinstance(p, dict) and p.get("type") in ("tool-call", "tool-result")]
    next_item = item + (1 if len(calls) < len(parts) else 0)
    for index, part in enumerate(parts):
        part_path = f"{path}[{index}]"
        expect("object", part, part_path)
        kind = part.get("type", _MISSING)
        expect_option(kind, ROLE_PARTS[role], f"{part_path}.type")
        if kind in ("tool-call", "tool-result"):
            check_call_id(part.get("toolCallId", _MISSING), f"{part_path}.toolCallId", next_item)
            next_item += 1
        PART_CHECKS[kind](part, part_path)
    return next_item


def check_call_id(call_id: Any, path: str, item: int) -> None:
    expect_nonempty_string(call_id, path)
    if len(call_id) > MAX_CALL_ID:
        message = (
            f"Invalid 'input[{item}].call_id': string too long. Expected a string with maximum length "
            f"{MAX_CALL_ID}, but got a string with length {len(call_id)} instead."
        )
        raise Invalid(errors.bad_request(message, "string_above_max_length"))


def check_text_part(part: dict[str, Any], path: str) -> None:
    expect("string", part.get("text", _MISSING), f"{path}.text")


def check_image_part(part: dict[str, Any], path: str) -> None:
    image = part.get("image", _MISSING)
    expect("string", image, f"{path}.image")
    if not image.startswith("data:") or "," not in image:
        raise fail("Invalid image: expected a data: URL with inline base64 content", f"{path}.image")
    if "mimeType" in part:
        expect("string", part["mimeType"], f"{path}.mimeType")


def check_tool_call_part(part: dict[str, Any], path: str) -> None:
    expect_nonempty_string(part.get("toolName", _MISSING), f"{path}.toolName")
    value = part.get("input", _MISSING)
    if type_name(value) != "object":
        raise fail(f"Invalid input: expected record, received {type_name(value)}", f"{path}.input")


def check_tool_result_part(part: dict[str, Any], path: str) -> None:
    expect_nonempty_string(part.get("toolName", _MISSING), f"{path}.toolName")
    output = part.get("output", _MISSING)
    expect("object", output, f"{path}.output")
    expect_option(output.get("type"), TOOL_OUTPUTS, f"{path}.output.type")
    expect("string", output.get("value", _MISSING), f"{path}.output.value")


PART_CHECKS: Final = {
    "text": check_text_part,
    "reasoning": check_text_part,
    "image": check_image_part,
    "tool-call": check_tool_call_part,
    "tool-result": check_tool_result_part,
}
