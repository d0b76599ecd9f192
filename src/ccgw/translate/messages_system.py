"""Anthropic system prompts: the `system` field, and `role: "system"` messages inside `messages`.

Claude Code sends Anthropic's mid-conversation system messages (its environment, reminders) as
`{"role": "system", ...}` entries anywhere in `messages`. The upstream's messages have no system
role, so ccgw carries them as far as it can without losing them or their order:

* system messages before the first user or assistant message join the upstream `system` prompt,
  after the `system` field;
* a later one becomes a text block wrapped in `<system-message>` tags at the end of the user
  message just before it, or, when an assistant message comes before it, at the start of the
  next user message, or, when no user message follows, a user message of its own.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.translate import common

SYSTEM_ROLE = "system"


def marked(text: str) -> dict[str, Any]:
    """A later system message as the text block the upstream sees inside a user turn."""
    return {"type": "text", "text": f"<system-message>\n{text}\n</system-message>"}


def _text(block: Any, where: str) -> str | None:
    """A text block's text; other block types carry nothing the upstream's system prompt can hold."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise InvalidRequestError(f"{where}: each block must be an object with a type", param=where)
    if block["type"] != "text":
        return None
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequestError(f"{where}: text must be a string", param=where)
    return text


def content_text(content: Any, where: str) -> str:
    """The text of a `system` field or of a system message's content (a string or text blocks)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}: must be a string or an array of text blocks", param=where)
    texts = (_text(block, f"{where}[{i}]") for i, block in enumerate(content))
    return "\n".join(t for t in texts if t is not None)


def _blocks(content: Any, where: str) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}: content must be a string or an array of blocks", param=where)
    return content


Indexed = tuple[int, dict[str, Any]]  # (position in the client's `messages`, message)


def fold_system_messages(messages: list[Any]) -> tuple[list[str], list[Indexed]]:
    """(texts of the leading system messages, the user and assistant messages, each with its
    position in `messages` for error paths, later system messages folded in as marked blocks)."""
    leading: list[str] = []
    out: list[Indexed] = []
    pending: list[dict[str, Any]] = []  # system blocks waiting for the next user message
    for i, message in enumerate(messages):
        role = message.get("role")
        if role != SYSTEM_ROLE:
            if role == "user" and pending:
                message = {**message, "content": [*pending, *_blocks(message.get("content"), f"messages[{i}].content")]}
                pending = []
            out.append((i, message))
            continue
        text = content_text(message.get("content"), f"messages[{i}].content")
        if not text:
            continue
        if not out:
            leading.append(text)
        elif out[-1][1].get("role") == "user" and not pending:
            at, previous = out[-1]
            blocks = _blocks(previous.get("content"), f"messages[{at}].content")
            out[-1] = (at, {**previous, "content": [*blocks, marked(text)]})
        else:
            pending.append(marked(text))
    if pending:
        out.append((len(messages) - 1, {"role": "user", "content": pending}))
    return leading, out


def system_texts(system: Any) -> list[tuple[str, bool]]:
    """The client's `system` field as (text, cache breakpoint) pairs."""
    if system is None or isinstance(system, str):
        return [(system or "", False)]
    if not isinstance(system, list):
        raise InvalidRequestError("system: must be a string or an array of text blocks", param="system")
    pairs = ((_text(block, f"system[{i}]"), block) for i, block in enumerate(system))
    return [(text, isinstance(block.get("cache_control"), dict)) for text, block in pairs if text is not None]


def system_prompt(system: Any, leading: list[str], instruction: str | None = None) -> list[dict[str, Any]]:
    """The upstream `system` (the one place a Messages request's system prompt is built): the
    `system` field's blocks with their cache breakpoints, the leading system messages, then the
    instruction standing in for `tool_choice`."""
    texts = [*system_texts(system), *((text, False) for text in leading), (instruction or "", False)]
    return common.system_blocks(texts)
