"""The checked-in model table is what the pinned CLI's bundle says (scripts/cli_models.py)."""

from __future__ import annotations

import json

from scripts.cli_models import OUT, derive, render
from tests.oracle.harness import CLI_PACKAGE, Oracle


def test_cli_models_data_file_matches_pinned_bundle(oracle: Oracle) -> None:
    derived = derive(CLI_PACKAGE)
    assert OUT.read_text(encoding="utf-8") == render(derived), "run: python scripts/cli_models.py"


def test_cli_models_table_has_what_the_cli_knows(oracle: Oracle) -> None:
    table = json.loads(OUT.read_text(encoding="utf-8"))
    models = {m["id"]: m for m in table["models"]}
    assert table["cli_version"] == "1.64.0"
    assert len(models) == 86
    assert sum(m["text_only"] for m in models.values()) == 24
    assert models["deepseek/deepseek-v4-pro"]["reasoning_efforts"] == ["high", "max"]
    assert models["Qwen/Qwen3.8-Max"]["reasoning_efforts"] == ["low", "medium", "xhigh"]
    assert models["moonshotai/Kimi-K2.6"]["reasoning_efforts"] == []
    assert models["claude-sonnet-4-6"]["min_plan"] == "individual-pro"
    assert models["gpt-6-luna"]["min_plan"] == "individual-go"
