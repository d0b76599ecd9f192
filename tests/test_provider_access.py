"""Which upstream path an account takes (`upstream: auto | provider | cli`) and the access probe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from tests.conftest import UPSTREAM, make_settings

from ccgw.upstream.access import ProviderAccess
from ccgw.upstream.provider import PROBE_BODY, ProviderClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Probe:
    """Answers in order; counts its calls."""

    def __init__(self, *answers: bool | Exception | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> bool | None:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_access_auto_first_request_waits_for_the_answer() -> None:
    access = ProviderAccess("auto", Probe(True), interval=60, clock=Clock())
    assert await access.path_for() == "provider"
    assert access.public()["reason"] == "the plan has the Provider API"


async def test_access_auto_go_plan_takes_the_cli_endpoint() -> None:
    access = ProviderAccess("auto", Probe(False), interval=60, clock=Clock())
    assert await access.path_for() == "cli"
    assert "upgrade_required" in access.reason


async def test_access_auto_cannot_tell_means_cli_and_a_sooner_check() -> None:
    clock, probe = Clock(), Probe(None, RuntimeError("boom"), True)
    access = ProviderAccess("auto", probe, interval=86400, clock=clock)
    assert await access.path_for() == "cli"
    clock.now += 301  # asked again within minutes, not a day
    await access.path_for()
    await asyncio.sleep(0)
    assert probe.calls == 2 and access.path == "cli"  # the probe's exception is a "cannot tell" too
    clock.now += 301
    access.check_soon()
    await asyncio.sleep(0.01)
    assert probe.calls == 3 and access.path == "provider"


async def test_access_plan_change_found_at_the_next_check_without_a_restart() -> None:
    clock, probe = Clock(), Probe(False, True)
    access = ProviderAccess("auto", probe, interval=60, clock=clock)
    assert await access.path_for() == "cli"
    clock.now += 30
    assert await access.path_for() == "cli" and probe.calls == 1  # not due yet
    clock.now += 31
    assert await access.path_for() == "cli"  # the due check runs in the background: this request is not held
    await asyncio.sleep(0.01)
    assert await access.path_for() == "provider" and probe.calls == 2


async def test_access_upgrade_required_on_a_request_moves_to_cli_at_once() -> None:
    clock, probe = Clock(), Probe(True)
    access = ProviderAccess("auto", probe, interval=60, clock=clock)
    await access.path_for()
    assert access.no_access() is True
    assert access.path == "cli" and access.no_access() is False  # already there
    clock.now += 30
    assert await access.path_for() == "cli" and probe.calls == 1  # the next check waits for the interval


@pytest.mark.parametrize("mode", ["provider", "cli"])
async def test_access_forced_modes_never_probe_and_never_move(mode: str) -> None:
    probe = Probe(mode == "cli")
    access = ProviderAccess(mode, probe, interval=60, clock=Clock())  # type: ignore[arg-type]
    assert await access.path_for() == mode
    assert access.no_access() is False and access.path == mode and probe.calls == 0
    assert access.public()["reason"] == f"forced by upstream: {mode}"


@pytest.fixture
async def provider() -> AsyncIterator[tuple[ProviderClient, respx.MockRouter]]:
    router = respx.MockRouter(base_url=UPSTREAM)
    transport = httpx.MockTransport(router.handler)
    async with httpx.AsyncClient(transport=transport) as http:
        yield ProviderClient(http, transport, make_settings()), router


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(403, json={"error": {"message": "Go plan: no API access", "code": "upgrade_required"}}), False),
        (httpx.Response(400, json={"error": {"message": "Too big: expected number to be <=1 at n"}}), True),
        (httpx.Response(403, json={"error": {"message": "MODEL_NOT_IN_PLAN: x"}}), True),
        (httpx.Response(401, json={"error": {"message": "Invalid API key"}}), None),
        (httpx.Response(503, text="unavailable"), None),
    ],
)
async def test_has_access_reads_the_plan_from_the_api_answer(
    provider: tuple[ProviderClient, respx.MockRouter], response: httpx.Response, expected: bool | None
) -> None:
    client, router = provider
    route = router.post("/provider/v1/chat/completions").mock(return_value=response)
    assert await client.has_access("user_k") is expected
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer user_k"
    assert httpx.Response(200, content=sent.content).json() == PROBE_BODY  # n: 2 — refused, never billed


async def test_has_access_network_failure_cannot_tell(provider: tuple[ProviderClient, respx.MockRouter]) -> None:
    client, router = provider
    router.post("/provider/v1/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    assert await client.has_access("user_k") is None
