"""Legacy completions and embeddings with the official `openai` SDK against `python app.py`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.e2e.conftest import E2E_SETTINGS
from tests.e2e.harness import FakeControl, Process, QuietHandler, serve, start_gateway, write_config

pytestmark = pytest.mark.e2e

EMBED_KEY = "sk-e2e-embeddings-0123456789"


@pytest.fixture
def client(gateway: Process, local_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=local_key, max_retries=0, timeout=30) as sdk:
        yield sdk


def test_completions_create_text_and_usage(client: openai.OpenAI, control: FakeControl) -> None:
    completion = client.completions.create(model="deepseek-v4-flash", prompt="def add(a, b):", max_tokens=40)
    choice = completion.choices[0]
    assert (choice.text, choice.finish_reason, choice.index) == ("Hello from deepseek/deepseek-v4-flash.", "stop", 0)
    assert completion.object == "text_completion" and completion.model == "deepseek/deepseek-v4-flash"
    assert completion.usage and completion.usage.completion_tokens > 0
    params = control.requests()[-1]["body"]["params"]
    assert params["max_tokens"] == 40 and params["messages"][0]["content"][0]["text"] == "def add(a, b):"


def test_completions_fill_in_the_middle_and_stop(client: openai.OpenAI, control: FakeControl) -> None:
    completion = client.completions.create(
        model="deepseek-v4-flash", prompt="fake:echo x = ", suffix="\nprint(x)", stop=["print"], max_tokens=20
    )
    text = control.requests()[-1]["body"]["params"]["messages"][0]["content"][0]["text"]
    assert text == "<prefix>fake:echo x = </prefix>\n<suffix>\nprint(x)</suffix>"
    assert "print" not in completion.choices[0].text  # the stop sequence cut the echo
    assert completion.choices[0].finish_reason == "stop"


def test_completions_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="deepseek-v4-flash",
            prompt="fake:slow(deltas=5)",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "tok0 tok1 tok2 tok3 tok4 "
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage and chunks[-1].usage.completion_tokens == 5


def test_completions_prompt_list_and_n(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="deepseek-v4-flash", prompt=["fake:echo one", "fake:echo two"], n=2)
    assert [(c.index, c.text) for c in completion.choices] == [(0, "one"), (1, "one"), (2, "two"), (3, "two")]


def test_completions_echo_refused_and_mid_stream_error_raises(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="echo is not supported"):
        client.completions.create(model="deepseek-v4-flash", prompt="x", echo=True)
    stream = client.completions.create(
        model="deepseek-v4-flash", prompt="fake:inband_error(delay=0.3)", stream=True, max_tokens=20
    )
    with pytest.raises(openai.APIError, match="capacity"):
        for _ in stream:
            pass


def test_embeddings_unconfigured_is_a_400_that_says_why(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="text-embedding-3-small", input="hi")
    assert refused.value.code == "embeddings_unavailable"
    assert "no embedding models" in refused.value.message


@pytest.fixture
def embeddings_service() -> Iterator[list[dict[str, Any]]]:
    """A fake OpenAI-compatible embeddings service (as Ollama's /v1/embeddings answers)."""
    seen: list[dict[str, Any]] = []

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": [0.5, -0.25, float(i)]} for i in range(len(inputs))
            ]
            usage = {"prompt_tokens": 2 * len(inputs), "total_tokens": 2 * len(inputs)}
            payload = json.dumps({"object": "list", "data": data, "model": body["model"], "usage": usage}).encode()
            self.send_body("application/json", payload)

    with serve(Handler) as url:
        seen.append({"url": url + "/v1"})
        yield seen


def test_embeddings_forwarded_to_the_configured_service(
    tmp_path: Path, fake: Process, local_key: str, embeddings_service: list[dict[str, Any]]
) -> None:
    url = embeddings_service.pop()["url"]
    embeddings = {"base_url": url, "api_key": EMBED_KEY, "models": {"text-embedding-3-small": "nomic-embed-text"}}
    gateway = start_gateway(tmp_path, write_config(tmp_path, fake.url, embeddings=embeddings, **E2E_SETTINGS))
    try:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key=local_key, max_retries=0) as sdk:
            result = sdk.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
            assert [d.embedding for d in result.data] == [[0.5, -0.25, 0.0], [0.5, -0.25, 1.0]]
            assert result.model == "nomic-embed-text" and result.usage.prompt_tokens == 4
            assert embeddings_service == [
                {
                    "path": "/v1/embeddings",
                    "auth": f"Bearer {EMBED_KEY}",
                    "body": {"model": "nomic-embed-text", "input": ["alpha", "beta"], "encoding_format": "base64"},
                }
            ]
            entry = httpx.get(gateway.url + "/usage/recent").json()["requests"][0]
    finally:
        gateway.stop()
    assert (entry["endpoint"], entry["model"], entry["input_tokens"], entry["status"]) == (
        "embeddings",
        "nomic-embed-text",
        4,
        "ok",
    )
    assert EMBED_KEY not in gateway.output()
