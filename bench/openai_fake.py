"""A minimal, fast OpenAI-compatible upstream for the LiteLLM comparison.

    python -m bench.openai_fake --port 8766

``POST /v1/chat/completions`` answers with the token stream of the fake Command Code ``text``
scenario: ``fake:text(deltas=N)`` (or ``fake:slow(deltas=N,delay=S)``) in the last user message gives
``tok0 ``, ``tok1 ``, …; without a marker, ``Hello from MODEL.`` split into words. Streamed and not,
usage included (the last chunk before ``[DONE]`` carries it). Unpaced answers leave in ~64 KB writes,
as the fake Command Code server sends them; paced ones one event per write. ``GET /_last`` returns
the last request body, so the benchmark can send exactly what the proxy sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
import uuid
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from tests.fakecc.framing import batches
from tests.fakecc.scenarios import MARKER_RE, parse_params, split_words

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def answer(model: str, text: str) -> tuple[list[str], float]:
    """The answer's pieces and the pause between events."""
    match = MARKER_RE.search(text)
    params = parse_params(match.group(2)) if match else {}
    if match and match.group(1) == "slow":
        params = {"deltas": 10, "delay": 0.05, **params}
    deltas = params.get("deltas")
    pieces = [f"tok{i} " for i in range(int(deltas))] if deltas is not None else split_words(f"Hello from {model}.")
    return pieces, float(params.get("delay", 0.0))


def usage(body: bytes, pieces: list[str]) -> dict[str, int]:
    prompt = math.ceil(len(body) / 4)
    return {"prompt_tokens": prompt, "completion_tokens": len(pieces), "total_tokens": prompt + len(pieces)}


def stream_frames(model: str, pieces: list[str], used: dict[str, int]) -> list[str]:
    head = (
        f'data: {{"id":"chatcmpl-{uuid.uuid4().hex}","object":"chat.completion.chunk","created":{int(time.time())},'
        f'"model":{json.dumps(model)},"choices":'
    )
    frames = [head + '[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n']
    frames += [
        head + f'[{{"index":0,"delta":{{"content":{json.dumps(p)}}},"finish_reason":null}}]}}\n\n' for p in pieces
    ]
    frames.append(head + '[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
    frames.append(head + f'[],"usage":{json.dumps(used, separators=(",", ":"))}}}\n\n')
    frames.append("data: [DONE]\n\n")
    return frames


def completion(model: str, pieces: list[str], used: dict[str, int]) -> bytes:
    message = {"role": "assistant", "content": "".join(pieces)}
    return json.dumps(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": used,
        },
        separators=(",", ":"),
    ).encode()


class OpenAIFake:
    def __init__(self) -> None:
        self.last: bytes = b"null"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path in {"/v1/chat/completions", "/chat/completions"}:
            await self.chat(receive, send)
        elif path == "/_last":
            await self.reply(send, 200, JSON_HEADERS, self.last)
        elif path in {"/health", "/v1/models"}:
            await self.reply(send, 200, JSON_HEADERS, b'{"object":"list","data":[]}')
        else:
            await self.reply(send, 404, JSON_HEADERS, b'{"error":{"message":"not found"}}')

    async def chat(self, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.last = body
        request = json.loads(body)
        model = str(request.get("model", "model"))
        pieces, delay = answer(model, last_user_text(request.get("messages")))
        used = usage(body, pieces)
        if not request.get("stream"):
            await self.reply(send, 200, JSON_HEADERS, completion(model, pieces, used))
            return
        frames = stream_frames(model, pieces, used)
        chunks = [f.encode() for f in frames] if delay else batches(frames)
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        for index, chunk in enumerate(chunks):
            if index and delay:
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def reply(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.openai_fake", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    uvicorn.run(
        OpenAIFake(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
