"""What the CLI does, through a running gateway and the fake: plan windows, team accounts, paused
turns, skipped lines and text-only models (issue 10)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.e2e.harness import LOCAL_KEY, FakeControl, Process
from tests.e2e.test_faults import chat, ledger

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {LOCAL_KEY}"}


@pytest.fixture
def reset_fake(control: FakeControl) -> Iterator[FakeControl]:
    yield control
    control.http.post("/_fake/reset").raise_for_status()


def test_window_429_fails_fast_with_plan_window_exhausted(isolated: Process, control: FakeControl) -> None:
    """Regression: after an upstream 429 naming the five-hour window, the next requests were sent
    upstream again (or answered `rate_limit_exceeded`) instead of failing fast."""
    first = chat(isolated, "fake:http_429(window=fiveHour,retry_after=3600)")
    assert first.status_code == 429
    assert first.json()["error"]["code"] == "plan_window_exhausted"
    calls = control.stats()["generate_calls"]
    for text in ("hello", "hello again"):
        again = chat(isolated, text)
        assert again.status_code == 429
        assert again.json()["error"]["code"] == "plan_window_exhausted"
        assert 3500 <= int(again.headers["retry-after"]) <= 3601
        assert ledger(isolated, again)["status"] == "plan_window_exhausted"
    assert control.stats()["generate_calls"] == calls  # nothing more went upstream
    plan = httpx.get(isolated.url + "/usage").json()["plan"]
    assert plan["windows"]["five_hour"]["exceeded"] is True


def test_team_account_plan_has_org_daily_window_and_spend_limits(
    tmp_path_factory: pytest.TempPathFactory, fake: Process, reset_fake: FakeControl
) -> None:
    from tests.e2e.conftest import E2E_SETTINGS
    from tests.e2e.harness import start_gateway, write_config

    limit = {"spent": 40, "limit": 50, "resetInterval": "monthly", "resetAt": "2100-01-01T00:00:00Z", "exceeded": False}
    reset_fake.state(org_id="org_fake_1", org_limits=[limit], daily_used=0.5, daily_cap=1.0)
    workdir = tmp_path_factory.mktemp("team")
    gateway = start_gateway(workdir, write_config(workdir, fake.url, **E2E_SETTINGS))
    try:
        plan = httpx.get(gateway.url + "/usage", timeout=10).json()["plan"]
        assert plan["org_id"] == "org_fake_1"
        assert plan["monthly_credits"] == 8.548  # the org's credits: only sent with ?orgId=
        assert plan["windows"]["daily"]["cap"] == 1.0
        assert plan["org_limits"][0]["limit"] == 50.0
        queries = [r["query"] for r in reset_fake.requests("/alpha/billing/credits")]
        assert "orgId=org_fake_1" in queries[-1]
        detail = httpx.get(gateway.url + "/health?detail=1", headers=HEADERS, timeout=10).json()
        assert detail["accounts"][0]["plan"]["org_limits"][0]["spent"] == 40.0
    finally:
        gateway.stop()


def test_paused_turn_is_one_answer(gateway: Process, control: FakeControl) -> None:
    control.script("pause_turn(text=First half.)", "text(text=Second half.)")
    response = chat(gateway, "hi")
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "First half.Second half."
    assert len(control.requests()) == 2


def test_unparsable_line_is_skipped(gateway: Process) -> None:
    response = chat(gateway, "fake:malformed_line(text=one two three)")
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "one two three"


def test_image_to_text_only_model_is_noted_and_told(gateway: Process, control: FakeControl) -> None:
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": png}}]
    body = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": content}]}
    response = httpx.post(gateway.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=30)
    assert response.status_code == 200
    assert response.headers["x-ccgw-warning"] == "image omitted, deepseek/deepseek-v4-pro takes text only"
    sent = control.requests()[-1]["body"]["params"]["messages"][0]["content"]
    assert [p["type"] for p in sent] == ["text", "text"]
