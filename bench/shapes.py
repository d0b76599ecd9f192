"""Client request bodies for each protocol, and the bytes that show a response arrived whole.

Every answer is the fake's numbered token stream (``tok0 ``, ``tok1 ``, …), so the first token is
``tok0`` whatever the protocol, and a complete answer contains its last token and the protocol's
closing event.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Final

MODEL: Final = "deepseek/deepseek-v4-flash"
PEER_MODEL: Final = "bench-model"
FIRST_TOKEN: Final = b"tok0"
PATHS: Final = {
    "chat": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
    "openai": "/v1/chat/completions",
}
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
HISTORY_TURN: Final = "Here is some earlier conversation, about the size of a short paragraph. " * 3


def last_token(deltas: int) -> bytes:
    return f"tok{deltas - 1} ".encode()


def expectations(protocol: str, stream: bool, deltas: int) -> tuple[bytes, ...]:
    """What a complete answer must contain: its last token and the protocol's closing marker."""
    closing = {
        ("direct", True): b'"type":"finish"',
        ("chat", True): b"data: [DONE]",
        ("chat", False): b'"finish_reason":"stop"',
        ("openai", True): b"data: [DONE]",
        ("openai", False): b'"finish_reason":"stop"',
        ("messages", True): b"event: message_stop",
        ("messages", False): b'"stop_reason":"end_turn"',
        ("responses", True): b"event: response.completed",
        ("responses", False): b'"status":"completed"',
    }[(protocol, stream or protocol == "direct")]
    return (last_token(deltas), closing)


def image_data_url(size: int) -> str:
    """A PNG-typed data URL of about `size` characters (random payload: it is never decoded upstream)."""
    raw = max(16, size * 3 // 4)
    return "data:image/png;base64," + base64.b64encode(PNG_MAGIC + os.urandom(raw - len(PNG_MAGIC))).decode()


def _history(turns: int) -> list[tuple[str, str]]:
    return [("user" if i % 2 == 0 else "assistant", f"{i}: {HISTORY_TURN}") for i in range(turns)]


def client_body(
    protocol: str, marker: str, *, stream: bool, history: int = 0, image_chars: int = 0, model: str = MODEL
) -> dict[str, Any]:
    """A request whose last user message carries the fake's scenario `marker` (and maybe an image)."""
    text = f"Please answer. {marker}"
    image = image_data_url(image_chars) if image_chars else None
    if protocol in {"chat", "openai"}:
        content: Any = text
        if image:
            content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": image}}]
        messages = [{"role": r, "content": t} for r, t in _history(history)] + [{"role": "user", "content": content}]
        return {"model": model, "messages": messages, "stream": stream, "max_tokens": 1024}
    if protocol == "messages":
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if image:
            data = image.split(",", 1)[1]
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}})
        messages = [{"role": r, "content": t} for r, t in _history(history)] + [{"role": "user", "content": blocks}]
        return {"model": model, "max_tokens": 1024, "messages": messages, "stream": stream}
    if protocol == "responses":
        parts: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
        if image:
            parts.append({"type": "input_image", "image_url": image})
        items: list[dict[str, Any]] = [{"role": r, "content": t} for r, t in _history(history)]
        items.append({"role": "user", "content": parts})
        return {"model": model, "input": items, "stream": stream, "max_output_tokens": 1024}
    raise ValueError(f"unknown protocol {protocol!r}")
