"""Claude Code's mid-conversation system messages through the app: accepted by `/v1/messages` and
`count_tokens`, carried upstream in order."""

from __future__ import annotations

import json

import respx
from fastapi.testclient import TestClient

BODY = {
    "model": "deepseek-v4-pro",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "You are Claude Code."}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
        {"role": "system", "content": [{"type": "text", "text": "# Environment\nPlatform: linux"}]},
    ],
}


def test_messages_with_a_system_message_reach_the_upstream_in_order(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    response = client.post("/v1/messages", json=BODY)
    assert response.status_code == 200, response.text
    params = json.loads(upstream.routes["generate"].calls.last.request.content)["params"]
    assert params["system"] == [{"type": "text", "text": "You are Claude Code."}]
    assert [p["text"] for p in params["messages"][0]["content"]] == [
        "hello there",
        "<system-message>\n# Environment\nPlatform: linux\n</system-message>",
    ]


def test_count_tokens_accepts_system_messages(client: TestClient) -> None:
    response = client.post("/v1/messages/count_tokens", json={k: v for k, v in BODY.items() if k != "max_tokens"})
    assert response.status_code == 200, response.text
    assert response.json()["input_tokens"] > 10
