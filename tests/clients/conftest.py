"""The client suite's session: install the pinned clients, start one fake upstream and one gateway,
run every client case and README recipe at once (bounded concurrency), check them, keep the results."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.clients.cases import RECIPE_OF, RECIPE_PARTS, Case, Stack, cases, recipe_jobs
from tests.clients.harness import ClientsUnavailable, Result, install_clients, latest_mode, recipes, run_all, versions
from tests.clients.matrix import RESULTS
from tests.e2e.harness import LOCAL_KEY, PROVIDER_KEY, FakeControl, Process, start_fake, start_gateway, write_config

CONCURRENCY = int(os.environ.get("CCGW_CLIENTS_CONCURRENCY", "4"))
SETTINGS = {"images": {"allow_private": True}, "timeouts": {"keepalive": 1}, "retries": {"backoff": 0.05}}


def gateway_settings() -> dict[str, Any]:
    """The suite's gateway config: SETTINGS and the README's own config.yaml additions (Gemini CLI's aliases)."""
    return {**SETTINGS, **yaml.safe_load(recipes()["gemini-cli-aliases"][1])}


@dataclass
class Outcome:
    client: str
    capability: str
    variant: str
    passed: bool
    message: str
    seconds: float
    limitation: str


@dataclass
class Run:
    outcomes: dict[str, Outcome]
    recipes: dict[str, tuple[bool, Result]]
    versions: dict[str, str]
    seconds: float


@pytest.fixture(scope="session")
def client_prefix() -> Path:
    try:
        return install_clients()
    except ClientsUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@dataclass
class Gateways:
    main: Stack
    limits: Stack  # a gateway of its own for the rate-limit cases: a 429 cools its account down
    provider: Stack  # a gateway whose account is on the Provider plan: the Provider API path
    workdir: Path


@pytest.fixture(scope="session")
def client_stack(tmp_path_factory: pytest.TempPathFactory, client_prefix: Path) -> Iterator[Gateways]:
    workdir = tmp_path_factory.mktemp("clients")
    # The Provider API cases get a fake of their own, so neither fake's bounded request log overflows.
    fakes = [start_fake(workdir), start_fake(workdir)]
    controls = [FakeControl(fake.url) for fake in fakes]
    gateways: list[Process] = []
    try:
        for name, fake in (("main", fakes[0]), ("limits", fakes[0]), ("provider", fakes[1])):
            folder = workdir / name
            folder.mkdir()
            extra: dict[str, Any] = {"upstream_key": PROVIDER_KEY, "exclude_models": []} if name == "provider" else {}
            gateways.append(start_gateway(folder, write_config(folder, fake.url, **{**gateway_settings(), **extra})))
        stack = Stack(gateways[0].url, LOCAL_KEY, client_prefix, recipes(), lambda: controls[0].model_requests("cli"))
        provider = Stack(
            gateways[2].url, LOCAL_KEY, client_prefix, stack.recipes, lambda: controls[1].model_requests("provider")
        )
        yield Gateways(stack, stack.on(gateways[1].url), provider, workdir)
    finally:
        for control in controls:
            control.http.close()
        for gateway in gateways:
            gateway.stop()
        for fake in fakes:
            fake.stop()


def _own(case: str, result: Result) -> Result:
    """A case's own result: a process that ran several cases prints one JSON line per case."""
    if result.name == case:
        return result
    lines = [line for line in result.json_lines() if line.get("case") == case]
    if not lines:
        return replace(result, name=case)
    line = lines[0]
    failed = "error" in line
    return replace(result, name=case, returncode=1 if failed else 0, stdout=json.dumps(line) + "\n",
                   seconds=float(line.get("seconds", 0)))  # fmt: skip


def _recipe(result: Result) -> tuple[bool, Result]:
    return result.returncode == 0 and not result.timed_out and "error" not in result.stdout.lower(), result


def _check(case: Case, result: Result, stack: Stack) -> Outcome:
    try:
        case.check(result, stack)
        passed, message = True, ""
    except AssertionError as exc:
        passed, message = False, str(exc)
    return Outcome(case.client, case.capability, case.variant, passed, message, result.seconds, case.limitation)


@pytest.fixture(scope="session")
def client_run(client_stack: Gateways) -> Run:
    stack = client_stack.main
    all_cases = cases()
    recipe_runs = recipe_jobs(stack)

    def target(case: Case) -> Stack:
        if case.through_provider:
            return client_stack.provider
        return client_stack.limits if case.cools_down else stack

    built = {case.name: case.build(target(case), case.name) for case in all_cases}
    jobs = list({job.name: job for job in built.values()}.values()) + list(recipe_runs.values())
    jobs.sort(key=lambda job: -job.timeout)  # the long ones first, so the pool never ends on one
    started = time.monotonic()
    results = run_all(jobs, client_stack.workdir / "runs", CONCURRENCY)
    seconds = time.monotonic() - started
    outcomes = {
        case.name: _check(case, _own(case.name, results[built[case.name].name]), target(case)) for case in all_cases
    }
    ran = {name: _recipe(results[job.name]) for name, job in recipe_runs.items()}
    for client, recipe in RECIPE_OF.items():
        ran[recipe] = (outcomes[f"{client}--plain"].passed, results[built[f"{client}--plain"].name])
    for part, whole in RECIPE_PARTS.items():
        ran[part] = ran[whole]
    run = Run(outcomes, ran, versions(stack.prefix), seconds)
    _save(run)
    return run


def _save(run: Run) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    document: dict[str, Any] = {
        "mode": "latest" if latest_mode() else "pinned",
        "versions": run.versions,
        "seconds": round(run.seconds, 1),
        "cases": {name: asdict(outcome) for name, outcome in run.outcomes.items()},
        "recipes": {name: ok for name, (ok, _) in run.recipes.items()},
    }
    RESULTS.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
