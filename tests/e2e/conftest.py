"""Session fixtures: one fake Command Code server and one gateway process, driven by the official SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.harness import (
    LOCAL_KEY,
    PROVIDER_KEY,
    FakeControl,
    Process,
    start_fake,
    start_gateway,
    write_config,
)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def fake(workdir: Path) -> Iterator[Process]:
    process = start_fake(workdir)
    yield process
    process.stop()


E2E_SETTINGS = {"images": {"allow_private": True}, "timeouts": {"keepalive": 1}, "retries": {"backoff": 0.05}}


@pytest.fixture(scope="session")
def gateway(workdir: Path, fake: Process) -> Iterator[Process]:
    config = write_config(workdir, fake.url, **E2E_SETTINGS)
    process = start_gateway(workdir, config)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def provider_gateway(workdir: Path, fake: Process) -> Iterator[Process]:
    """A gateway whose account is on the Provider plan: `auto` finds the Provider API."""
    folder = workdir / "provider"
    folder.mkdir()
    process = start_gateway(folder, write_config(folder, fake.url, upstream_key=PROVIDER_KEY, **E2E_SETTINGS))
    yield process
    process.stop()


@pytest.fixture(scope="session", params=["cli", "provider"])
def path(request: pytest.FixtureRequest) -> str:
    """The upstream path a test runs through: the CLI endpoint (a Go account) or the Provider API."""
    return str(request.param)


@pytest.fixture
def sdk_gateway(request: pytest.FixtureRequest, path: str) -> Process:
    """The gateway of `path`: the SDK tests run through both."""
    process: Process = request.getfixturevalue("gateway" if path == "cli" else "provider_gateway")
    return process


@pytest.fixture
def isolated(tmp_path: Path, fake: Process) -> Iterator[Process]:
    """A gateway of its own, for tests that leave its account cooling down (401, 402, 429 ...)."""
    config = write_config(tmp_path, fake.url, **E2E_SETTINGS)
    process = start_gateway(tmp_path, config)
    yield process
    process.stop()


@pytest.fixture
def control(fake: Process) -> Iterator[FakeControl]:
    control = FakeControl(fake.url)
    control.clear()
    yield control
    control.http.close()


@pytest.fixture
def local_key() -> str:
    return LOCAL_KEY
