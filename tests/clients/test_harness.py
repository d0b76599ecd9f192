"""The client suite's own machinery, without running any client: recipes, the matrix, the runner."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.clients.harness import README as PROJECT_README
from tests.clients.harness import Job, exports, localize, recipe_markers, recipes, run_all
from tests.clients.matrix import table

README = """
text
<!-- recipe: shell-one -->
```bash
export A=http://localhost:11434   # comment
export B="ccgw-..."
run
```
<!-- recipe: py -->
```python
print("hi")
```
```bash
not a recipe
```
"""


def test_recipes_are_the_blocks_after_their_markers() -> None:
    found = recipes(README)
    assert list(found) == ["shell-one", "py"]
    assert found["py"] == ("python", 'print("hi")')


def test_recipe_marker_without_a_block_right_after_it_is_no_recipe() -> None:
    text = README + "<!-- recipe: prose-first -->\nSome words.\n```bash\nrun\n```\n"
    assert recipe_markers(text) == ["shell-one", "py", "prose-first"]
    assert "prose-first" not in recipes(text)


def test_every_recipe_marker_in_the_readme_marks_a_recipe_the_suite_reads() -> None:
    # A marker the parser skips would be a recipe the README calls tested and no run ever checks.
    markers = recipe_markers(PROJECT_README.read_text())
    assert sorted(markers) == sorted(recipes()), "each `<!-- recipe: NAME -->` must sit right above its fenced block"
    assert len(markers) == len(set(markers)), "recipe names must be unique"


def test_recipe_localized_and_exports_parsed() -> None:
    code = localize(recipes(README)["shell-one"][1], "http://127.0.0.1:9", "ccgw-local")
    assert exports(code) == {"A": "http://127.0.0.1:9", "B": "ccgw-local"}


def test_runner_bounds_time_and_kills_the_whole_group(tmp_path: Path) -> None:
    # A child that ignores SIGTERM, as opencode does, in the same group: both are gone after the limit.
    stubborn = "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    stubborn += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)"
    started = time.monotonic()
    results = run_all(
        [Job("slow", [sys.executable, "-c", stubborn], timeout=1), Job("fast", [sys.executable, "-c", "print(42)"])],
        tmp_path,
        concurrency=2,
    )
    assert time.monotonic() - started < 12
    assert results["slow"].timed_out and "up" in results["slow"].stdout
    assert (results["fast"].returncode, results["fast"].stdout.strip(), results["fast"].timed_out) == (0, "42", False)


def test_runner_gives_each_job_a_throwaway_home_and_a_clean_environment(tmp_path: Path) -> None:
    probe = "import os; print(os.environ['HOME']); print(os.environ.get('SECRET_FROM_THE_MACHINE'))"
    import os

    os.environ["SECRET_FROM_THE_MACHINE"] = "x"
    try:
        result = run_all([Job("env", [sys.executable, "-c", probe])], tmp_path, 1)["env"]
    finally:
        del os.environ["SECRET_FROM_THE_MACHINE"]
    home, leaked = result.stdout.split()
    assert home == str(tmp_path / "env" / "home")
    assert leaked == "None"


def test_matrix_marks_passes_client_limits_and_failures() -> None:
    def case(client: str, capability: str, passed: bool, limitation: str = "") -> dict[str, object]:
        return {"client": client, "capability": capability, "variant": "", "passed": passed, "limitation": limitation}

    results = {
        "versions": {"claude-code": "9.9.9", "langchain-openai": "1.0"},
        "cases": {
            "a": case("claude-code", "plain", True),
            "b": case("claude-code", "tools", False),
            "c": case("langchain", "reasoning", False, "drops it"),
        },
    }
    text = table(results)
    assert "| Claude Code (9.9.9) | ✅ |   |   | ❌ |   |   |" in text
    assert "| LangChain `ChatOpenAI` (1.0) |   |   | ➖ |" in text
    assert "- LangChain `ChatOpenAI`, reasoning: drops it." in text


def test_runner_ends_a_run_once_its_output_shows_what_was_awaited(tmp_path: Path) -> None:
    endless = "import time\nwhile True:\n    print('retrying: upstream 500', flush=True)\n    time.sleep(0.2)"
    started = time.monotonic()
    job = Job("retrier", [sys.executable, "-c", endless], timeout=60, stop_when="upstream 500")
    result = run_all([job], tmp_path, 1)["retrier"]
    assert time.monotonic() - started < 8
    assert not result.timed_out and "retrying: upstream 500" in result.stdout
