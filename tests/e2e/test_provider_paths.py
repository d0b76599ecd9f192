"""One Go account and one Provider account in one gateway, over the network: each takes its own upstream path,
usage is recorded per account and path, an account whose plan changes moves paths without a restart, and
failover crosses the paths. Claude through the Provider API with the Anthropic SDK, signed thinking replayed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from tests.e2e.conftest import E2E_SETTINGS
from tests.e2e.harness import (
    LOCAL_KEY,
    PROVIDER_KEY,
    UPSTREAM_KEY,
    FakeControl,
    Process,
    start_gateway,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {LOCAL_KEY}"}
TOOLS: list[Any] = [
    {"name": "read_file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}
]


@pytest.fixture
def mixed(tmp_path: Path, fake: Process) -> Iterator[Process]:
    """A Go account (`go`) and a Provider account (`pro`), both `upstream: auto`, re-checked every 2 s."""
    accounts = [{"name": "go", "api_key": UPSTREAM_KEY}, {"name": "pro", "api_key": PROVIDER_KEY}]
    config = write_config(
        tmp_path,
        fake.url,
        upstream_key="",
        **{**E2E_SETTINGS, "exclude_models": []},
        commandcode={"base_url": fake.url, "accounts": accounts, "provider_check_interval": 2},
    )
    process = start_gateway(tmp_path, config)
    yield process
    process.stop()


def accounts(gateway: Process) -> dict[str, dict[str, Any]]:
    found = httpx.get(gateway.url + "/health?detail=1", headers=HEADERS).json()["accounts"]
    return {a["name"]: a for a in found}


def ask(gateway: Process, text: str) -> httpx.Response:
    body = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": text}]}
    return httpx.post(gateway.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=30)


def served_by(gateway: Process, response: httpx.Response) -> tuple[str, str]:
    url = gateway.url + "/v1/usage/" + response.headers["x-request-id"]
    assert wait_for(lambda: httpx.get(url, headers=HEADERS).status_code == 200, 3)
    entry = httpx.get(url, headers=HEADERS).json()
    return entry["account"], entry["path"]


def conversation_on(gateway: Process, account: str) -> str:
    """A first message whose conversation the gateway puts on `account` (conversations stick to one)."""
    for i in range(40):
        text = f"conversation {i}"
        response = ask(gateway, text)
        assert response.status_code == 200, response.text
        if served_by(gateway, response)[0] == account:
            return text
    raise AssertionError(f"no conversation went to {account}")


def test_each_account_takes_its_plans_path_and_usage_is_per_account_and_path(
    mixed: Process, control: FakeControl
) -> None:
    assert wait_for(lambda: accounts(mixed)["pro"]["upstream"]["path"] == "provider")
    state = accounts(mixed)
    assert state["go"]["upstream"] == {**state["go"]["upstream"], "mode": "auto", "path": "cli"}
    assert "upgrade_required" in state["go"]["upstream"]["reason"]
    assert state["pro"]["upstream"]["reason"] == "the plan has the Provider API"
    seen = {served_by(mixed, ask(mixed, f"spread {i}")) for i in range(12)}
    assert seen == {("go", "cli"), ("pro", "provider")}
    usage = httpx.get(mixed.url + "/usage").json()
    assert usage["by_account"]["go"]["path"] == "cli" and usage["by_account"]["pro"]["path"] == "provider"
    assert usage["by_path"]["cli"]["total_requests"] + usage["by_path"]["provider"]["total_requests"] == 12
    assert usage["by_account"]["pro"]["cost_micro"] > 0  # the Provider API's own cost
    assert {a["name"]: a["path"] for a in usage["accounts"]} == {"go": "cli", "pro": "provider"}


def test_plan_change_moves_the_account_without_a_restart(mixed: Process, control: FakeControl) -> None:
    assert wait_for(lambda: accounts(mixed)["pro"]["upstream"]["path"] == "provider")
    text = conversation_on(mixed, "pro")
    try:
        control.state(key_plans={PROVIDER_KEY: "go"})  # downgraded: the Provider API now says upgrade_required
        response = ask(mixed, text)
        assert response.status_code == 200  # the same account answered, on the CLI endpoint
        assert served_by(mixed, response) == ("pro", "cli")
        state = accounts(mixed)["pro"]
        assert state["state"] == "healthy" and state["upstream"]["path"] == "cli"
        assert "upgrade_required" in state["upstream"]["reason"]
        control.state(key_plans={})  # upgraded again: found at the next check (every 2 s here)
        ask(mixed, text)  # a request starts the due check
        assert wait_for(lambda: ask(mixed, text) and accounts(mixed)["pro"]["upstream"]["path"] == "provider")
        assert served_by(mixed, ask(mixed, text)) == ("pro", "provider")
    finally:
        control.state(key_plans={})


def test_failover_crosses_paths_when_the_provider_account_runs_out(mixed: Process, control: FakeControl) -> None:
    assert wait_for(lambda: accounts(mixed)["pro"]["upstream"]["path"] == "provider")
    text = conversation_on(mixed, "pro")
    try:
        control.state(exhausted_keys=[PROVIDER_KEY])
        response = ask(mixed, text)
        assert response.status_code == 200
        assert served_by(mixed, response) == ("go", "cli")
        assert accounts(mixed)["pro"]["state"] == "cooling_down"
    finally:
        control.state(exhausted_keys=[])


def test_claude_through_the_provider_api_with_signed_thinking_replayed(mixed: Process, control: FakeControl) -> None:
    assert wait_for(lambda: accounts(mixed)["pro"]["upstream"]["path"] == "provider")
    with anthropic.Anthropic(base_url=mixed.url, api_key=LOCAL_KEY, max_retries=0, timeout=30) as sdk:
        first = sdk.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=200_000,  # above the model's ceiling: sent again at the ceiling the endpoint names
            thinking={"type": "enabled", "budget_tokens": 4096},
            tools=TOOLS,
            messages=[{"role": "user", "content": "fake:tool_call"}],
        )
        assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
        assert first.content[0].signature.startswith("fakesig.")  # type: ignore[union-attr]
        tool_use = first.content[-1]
        history: list[Any] = [
            {"role": "user", "content": "fake:tool_call"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "42"}]},  # type: ignore[union-attr]
        ]
        second = sdk.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1024,
            thinking={"type": "enabled", "budget_tokens": 4096},
            tools=TOOLS,
            messages=history,
        )
    assert second.content[-1].text == "Tool result: 42"  # type: ignore[union-attr]
    sent = control.sent("provider")
    assert sent["thinking"] == {"type": "adaptive"} and sent["output_config"] == {"effort": "medium"}
    assert sent["messages"][1]["content"][0]["signature"] == first.content[0].signature  # type: ignore[union-attr]
    with openai.OpenAI(base_url=mixed.url + "/v1", api_key=LOCAL_KEY, max_retries=0) as sdk_openai:
        translated = sdk_openai.chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
        )
    assert translated.choices[0].message.content == "Hello from claude-sonnet-4-6."
    assert httpx.get(mixed.url + "/usage").json()["by_model"]["claude-sonnet-4-6"]["total_requests"] == 3
