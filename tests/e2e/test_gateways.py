"""Two gateways on one PostgreSQL, behind one round-robin proxy: one key's `rpm` and budget hold
exactly across both, `/usage` is the same total on either, a conversation that moves to the
other gateway keeps its remembered reasoning, and what one gateway learns about a Command Code
account (a cooldown, a used-up plan window, its upstream path, its billing) the other uses without
asking the upstream again.

The proxy is a small TCP round robin (each connection to the next gateway), standing in for nginx,
Caddy or HAProxy; clients open a connection per request so the requests spread over both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import E2E_SETTINGS
from tests.e2e.harness import (
    LOCAL_KEY,
    PROVIDER_KEY,
    UPSTREAM_KEY,
    FakeControl,
    Process,
    free_port,
    start_gateway,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.e2e

# What each gateway reports of its own: the time, its plan and storage status, its accounts' path checks.
PER_GATEWAY = ("updated_at", "plan", "storage", "accounts")

RPM_KEY = "ccgw-e2e-rpm-key-0123456789"
BUDGET_KEY = "ccgw-e2e-budget-key-0123456789"
BUDGET_USD = 0.00005
KEYS = [
    {"name": "ten-a-minute", "key": RPM_KEY, "rpm": 10},
    {"name": "tiny-budget", "key": BUDGET_KEY, "budget_usd_per_day": BUDGET_USD},
]


class RoundRobin(threading.Thread):
    """A TCP proxy on 127.0.0.1 that sends each new connection to the next backend."""

    def __init__(self, backends: list[tuple[str, int]]) -> None:
        super().__init__(daemon=True)
        self.port = free_port()
        self._next = itertools.cycle(backends)
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = next(self._next)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        with contextlib.suppress(RuntimeError):
            self._loop.run_forever()
        server.close()

    def start_serving(self) -> str:
        self.start()
        self._ready.wait(10)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.join(5)


Starter = Callable[..., Process]


@pytest.fixture
def starter(tmp_path: Path, fake: Process, postgres: Any) -> Iterator[Starter]:
    """Starts gateways on one new PostgreSQL database: `starter(name, accounts=None, **config)`; all
    stopped at the end."""
    url = postgres.new_database()
    started: list[Process] = []

    def start(name: str, accounts: list[dict[str, str]] | None = None, **extra: Any) -> Process:
        workdir = tmp_path / name
        workdir.mkdir()
        if accounts is not None:
            extra.update(upstream_key="", commandcode={"base_url": fake.url, "accounts": accounts})
        config = write_config(workdir, fake.url, **{**E2E_SETTINGS, "storage": {"url": url}, **extra})
        text = config.read_text().replace("api_keys:\n", "api_keys:\n" + _yaml_keys())
        config.write_text(text)
        started.append(start_gateway(workdir, config))
        return started[-1]

    try:
        yield start
    finally:
        for gateway in started:
            gateway.stop()


@pytest.fixture
def pair(starter: Starter) -> Iterator[tuple[Process, Process, str]]:
    gateways = [starter("a"), starter("b")]
    proxy = RoundRobin([("127.0.0.1", int(g.url.rsplit(":", 1)[1])) for g in gateways])
    base = proxy.start_serving()
    try:
        yield gateways[0], gateways[1], base
    finally:
        proxy.stop()


def _yaml_keys() -> str:
    lines = []
    for key in KEYS:
        lines.append(f"- name: {key['name']}\n")
        lines.extend(f"  {field}: {value}\n" for field, value in key.items() if field != "name")
    return "".join(lines)


async def _burst(base: str, key: str, count: int, max_tokens: int = 16) -> list[httpx.Response]:
    body = {"model": "deepseek-v4-flash", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    limits = httpx.Limits(max_keepalive_connections=0)  # a connection per request: the proxy spreads them
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        headers = {"Authorization": f"Bearer {key}"}
        return list(
            await asyncio.gather(
                *(client.post("/v1/chat/completions", json=body, headers=headers) for _ in range(count))
            )
        )


def _not_near_a_minute_boundary() -> None:
    if time.time() % 60 > 45:  # the burst must fall in one UTC minute
        time.sleep(60 - time.time() % 60 + 0.5)


def test_two_gateways_enforce_one_rpm_exactly(pair: tuple[Process, Process, str]) -> None:
    a, b, base = pair
    _not_near_a_minute_boundary()
    responses = asyncio.run(_burst(base, RPM_KEY, 30))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 20
    served_by = {r.headers["x-request-id"] for r in responses if r.status_code == 200}
    refused = [r.json()["error"] for r in responses if r.status_code == 429]
    assert {e["code"] for e in refused} == {"key_rate_limited"}
    usage_a, usage_b = httpx.get(a.url + "/usage").json(), httpx.get(b.url + "/usage").json()
    for usage in (usage_a, usage_b):
        mine = usage["by_key"]["ten-a-minute"]
        assert (mine["total_requests"], mine["rejected_requests"]) == (10, 20)
    assert {k: v for k, v in usage_a.items() if k not in PER_GATEWAY} == {
        k: v for k, v in usage_b.items() if k not in PER_GATEWAY
    }
    owner = {"Authorization": f"Bearer {LOCAL_KEY}"}  # request ids are shown only to a key (this one sees all)
    recent = httpx.get(a.url + "/usage/recent", params={"limit": 100}, headers=owner).json()["requests"]
    ids_a = {e["request_id"] for e in recent}
    assert served_by <= ids_a  # every request is in the one ledger, whichever gateway served it
    seen = []  # /metrics is per process: the burst reached both gateways, and the limit held across them
    for gateway in (a, b):
        text = httpx.get(gateway.url + "/metrics").text
        assert "ccgw_metrics_scope_info" in text
        seen.append(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith(("ccgw_requests_total{", "ccgw_rejected_requests_total{"))
            )
        )
    assert min(seen) > 0 and sum(seen) == 30, seen


def test_two_gateways_hold_one_budget_with_reservations(pair: tuple[Process, Process, str]) -> None:
    a, _, base = pair
    responses = asyncio.run(_burst(base, BUDGET_KEY, 100))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert ok, "the first request fits the budget"
    assert {r.status_code for r in refused} == {402}
    assert {r.json()["error"]["code"] for r in refused} == {"budget_exceeded"}
    costs = []
    for response in ok:
        entry = httpx.get(
            f"{a.url}/v1/usage/{response.headers['x-request-id']}", headers={"Authorization": f"Bearer {BUDGET_KEY}"}
        ).json()
        costs.append(entry["cost_micro"])
    spent = sum(costs)
    assert spent - max(costs) < BUDGET_USD * 1_000_000, f"overshot by more than one request: {costs}"
    again = asyncio.run(_burst(base, BUDGET_KEY, 1))  # nothing is held any more: only what was spent counts
    assert again[0].status_code == (402 if spent >= BUDGET_USD * 1_000_000 else 200)


def test_conversation_moves_between_gateways_with_its_reasoning(
    pair: tuple[Process, Process, str], control: FakeControl
) -> None:
    a, b, _ = pair
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    ask = [{"role": "user", "content": "fake:tool_call"}]
    headers = {"Authorization": f"Bearer {RPM_KEY}"}
    first = httpx.post(
        a.url + "/v1/chat/completions",
        json={"model": "deepseek-v4-pro", "messages": ask, "tools": tools},
        headers=headers,
        timeout=30,
    ).json()
    call = first["choices"][0]["message"]["tool_calls"][0]
    history = [
        *ask,
        {"role": "assistant", "content": None, "tool_calls": [call]},  # reasoning dropped by the client
        {"role": "tool", "tool_call_id": call["id"], "content": "package main"},
    ]
    second = httpx.post(
        b.url + "/v1/chat/completions",
        json={"model": "deepseek-v4-pro", "messages": history, "tools": tools},
        headers=headers,
        timeout=30,
    )
    assert second.status_code == 200, second.text
    sent = control.requests()[-1]["body"]["params"]["messages"]
    assert sent[1]["content"][0] == {"type": "reasoning", "text": "I should read the file first."}


# -- what one gateway learns about a Command Code account, the other uses ------------------------

HEADERS = {"Authorization": f"Bearer {LOCAL_KEY}"}
BACKUP_KEY = "user_e2e_backup_0123456789abcdefghijklmnopq"


def chat(gateway: Process, text: str) -> httpx.Response:
    body = {"model": "deepseek-v4-flash", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=HEADERS, timeout=30)


def health(gateway: Process) -> dict[str, Any]:
    detail: dict[str, Any] = httpx.get(gateway.url + "/health?detail=1", headers=HEADERS, timeout=10).json()
    return detail


def account(gateway: Process, name: str = "default") -> dict[str, Any]:
    return next(a for a in health(gateway)["accounts"] if a["name"] == name)


def test_two_gateways_share_a_cooldown_the_other_fails_fast(
    pair: tuple[Process, Process, str], control: FakeControl
) -> None:
    a, b, _ = pair
    first = chat(a, "fake:http_429(window=none,retry_after=120)")
    assert first.status_code == 429 and first.json()["error"]["code"] == "rate_limit_exceeded"
    assert wait_for(lambda: account(b)["state"] == "cooling_down"), health(b)
    assert account(b)["reason"] == "rate_limit_exceeded" and 100 < account(b)["cooldown_seconds"] <= 120
    calls = control.stats()["generate_calls"]
    again = chat(b, "hello")
    assert again.status_code == 429, again.text
    assert again.json()["error"]["message"] == first.json()["error"]["message"]  # a's error, remembered by b
    assert 100 < int(again.headers["retry-after"]) <= 120
    assert control.stats()["generate_calls"] == calls  # b never asked the upstream
    assert health(b)["shared_state"]["status"] == "ok"


def test_two_gateways_share_a_402_the_other_fails_over_without_asking(starter: Starter, control: FakeControl) -> None:
    accounts = [{"name": "main", "api_key": UPSTREAM_KEY}, {"name": "backup", "api_key": BACKUP_KEY}]
    a, b = starter("a", accounts), starter("b", accounts)
    control.state(exhausted_keys=[UPSTREAM_KEY])
    try:
        for i in range(8):  # conversations spread over both accounts: one reaches main, which refuses
            assert chat(a, f"question {i}").status_code == 200
            if account(a, "main")["state"] == "cooling_down":
                break
        assert account(a, "main")["reason"] == "insufficient_credits"
        assert wait_for(lambda: account(b, "main")["state"] == "cooling_down"), health(b)
        control.clear()
        answers = [chat(b, f"question {i}") for i in range(8)]
        assert [r.status_code for r in answers] == [200] * 8
        keys = {r["headers"].get("authorization") for r in control.requests()}
        assert keys == {f"Bearer {BACKUP_KEY}"}  # b never tried main
    finally:
        control.state(exhausted_keys=[])


def test_two_gateways_share_a_used_up_plan_window(pair: tuple[Process, Process, str], control: FakeControl) -> None:
    a, b, _ = pair
    first = chat(a, "fake:http_429(window=fiveHour,retry_after=3600)")
    assert first.status_code == 429 and first.json()["error"]["code"] == "plan_window_exhausted"
    assert wait_for(lambda: account(b)["plan"]["windows"].get("five_hour", {}).get("exceeded") is True), health(b)
    calls = control.stats()["generate_calls"]
    again = chat(b, "hello")
    assert again.status_code == 429 and again.json()["error"]["code"] == "plan_window_exhausted"
    assert 3500 < int(again.headers["retry-after"]) <= 3600
    assert control.stats()["generate_calls"] == calls
    assert httpx.get(b.url + "/usage").json()["plan"]["windows"]["five_hour"]["exceeded"] is True


def test_two_gateways_share_the_upstream_path_and_the_billing_poll(starter: Starter, control: FakeControl) -> None:
    a = starter("a", upstream_key=PROVIDER_KEY)
    assert wait_for(lambda: account(a)["upstream"]["checked_at"] is not None)
    assert account(a)["upstream"]["path"] == "provider"
    b = starter("b", upstream_key=PROVIDER_KEY)  # starts after a's check and a's billing poll
    probes = [r for r in control.requests("/provider/v1/chat/completions") if r["body"].get("n") == 2]
    assert len(probes) == 1  # a's: b took its answer
    assert account(b)["upstream"] == account(a)["upstream"]
    assert wait_for(lambda: httpx.get(b.url + "/usage").json()["plan"] == httpx.get(a.url + "/usage").json()["plan"])
    assert len(control.requests("/alpha/billing/credits")) == 1  # one poll served both
    try:
        control.state(key_plans={PROVIDER_KEY: "go"})  # downgraded: the Provider API says upgrade_required
        assert chat(a, "after the downgrade").status_code == 200  # a moved to the CLI endpoint
        assert account(a)["upstream"]["path"] == "cli"
        assert wait_for(lambda: account(b)["upstream"]["path"] == "cli"), health(b)
        control.clear()
        assert chat(b, "on b").status_code == 200
        assert control.model_requests("provider") == [] and len(control.model_requests("cli")) == 1
    finally:
        control.state(key_plans={})
