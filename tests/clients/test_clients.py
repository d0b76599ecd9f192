"""Real clients against a running ccgw and the fake upstream: one test per client case and README recipe,
and the README's client matrix checked against this run."""

from __future__ import annotations

import json

import pytest
from tests.clients.cases import cases
from tests.clients.conftest import Run
from tests.clients.harness import README, latest_mode, recipes
from tests.clients.matrix import RESULTS, readme_table, table

pytestmark = pytest.mark.clients
CASE_NAMES = [case.name for case in cases()]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_client_case_works_through_ccgw(name: str, client_run: Run) -> None:
    outcome = client_run.outcomes[name]
    if not outcome.passed and outcome.limitation:
        pytest.xfail(f"a limit of the client itself: {outcome.limitation}")
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("recipe", sorted(recipes()))
def test_readme_recipe_runs_as_written(recipe: str, client_run: Run) -> None:
    passed, result = client_run.recipes[recipe]
    assert passed, result.explain()


def test_readme_recipes_cover_every_client_section() -> None:
    assert {"claude-code", "codex", "opencode", "vercel-ai-sdk-openai", "vercel-ai-sdk-anthropic", "langchain",
            "openai-agents", "google-genai", "gemini-cli", "gemini-cli-settings", "gemini-cli-aliases"} <= set(recipes())  # fmt: skip


def test_readme_client_matrix_matches_this_run(client_run: Run) -> None:
    if latest_mode():
        pytest.skip("the README's matrix records the pinned versions; this run used the latest releases")
    expected = table(json.loads(RESULTS.read_text()))
    assert readme_table(README.read_text()) == expected, (
        "README.md's client matrix differs from this run: `python -m tests.clients.matrix` rewrites it"
    )
