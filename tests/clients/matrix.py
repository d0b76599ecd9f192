"""The README's client matrix, generated from the client suite's results.

`python -m tests.clients.matrix` writes the table of the last run (tests/clients/.results/results.json)
into README.md between the `client-matrix` markers; the suite fails while the README disagrees.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.clients.cases import CAPABILITIES, CLIENTS
from tests.clients.harness import HERE, README

RESULTS = HERE / ".results" / "results.json"
START, END = "<!-- client-matrix:start -->", "<!-- client-matrix:end -->"
MARKS = {"pass": "✅", "limit": "➖", "fail": "❌", "none": " "}
VERSIONED = {
    "claude-code": ("claude-code",),
    "codex": ("codex",),
    "opencode": ("opencode",),
    "ai-sdk-openai": ("ai", "ai-sdk-openai-compatible"),
    "ai-sdk-anthropic": ("ai", "ai-sdk-anthropic"),
    "langchain": ("langchain-openai",),
    "langchain-responses": ("langchain-openai",),
    "openai-agents": ("openai-agents",),
    "gemini-cli": ("gemini-cli",),
    "google-genai": ("google-genai",),
}


def cell(cases: list[dict[str, Any]]) -> str:
    if not cases:
        return "none"
    if all(c["passed"] for c in cases):
        return "pass"
    return "limit" if all(c["passed"] or c["limitation"] for c in cases) else "fail"


def table(results: dict[str, Any]) -> str:
    """The markdown table (with its footnotes) for one run's results."""
    versions = results["versions"]
    header = "| client (version) | " + " | ".join(CAPABILITIES) + " |"
    rows = [header, "|" + "---|" * (len(CAPABILITIES) + 1)]
    notes: list[str] = []
    for client, label in CLIENTS.items():
        mine = [c for c in results["cases"].values() if c["client"] == client]
        cells = []
        for capability in CAPABILITIES:
            state = cell([c for c in mine if c["capability"] == capability])
            cells.append(MARKS[state])
            for case in mine:
                if case["capability"] == capability and not case["passed"] and case["limitation"]:
                    notes.append(f"{label}, {capability}: {case['limitation']}.")
        version = ", ".join(versions.get(v, "?") for v in VERSIONED[client])
        rows.append(f"| {label} ({version}) | " + " | ".join(cells) + " |")
    legend = "✅ every case passed · ➖ a limit of the client itself (below) · ❌ failed"
    lines = [*rows, "", legend, "", "Cells of several cases: " + _variants(results) + "."]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


VARIANTS = {
    "tool-search": "again with `ENABLE_TOOL_SEARCH=true` (a deferred tool loaded by ToolSearch)",
    "mcp": "again calling an MCP server's tool (a `namespace` tool)",
    "custom": "again with `gpt-5.6-luna`, whose tools come as `additional_tools` with a freeform `exec` tool",
    "gemini-id": "again with one of its own ids (`-m gemini-3-flash-preview`), which the README's `model_aliases` map",
    "session": "read from its session record (headless runs print no thoughts; its interactive UI shows them)",
    "yolo": "again with `--yolo`, running a shell command (`run_shell_command`)",
}


def _variants(results: dict[str, Any]) -> str:
    """`errors` (429, mid-stream) for every client; the cases run again through the Provider API; the
    other extra cases by client."""
    parts = ["errors: an upstream 429 and a mid-stream failure, for every client"]
    provider = [c for c in results["cases"].values() if c["variant"].startswith("provider")]
    if provider:
        suffix = {"provider-claude": " on Claude", "provider-mid-stream": " (mid-stream)"}
        runs = ", ".join(f"{CLIENTS[c['client']]} {c['capability']}{suffix.get(c['variant'], '')}" for c in provider)
        parts.append(f"again through an account on the Provider API: {runs}")
    for case in results["cases"].values():
        if case["variant"] and case["capability"] != "errors" and not case["variant"].startswith("provider"):
            described = VARIANTS.get(case["variant"], case["variant"])
            parts.append(f"{CLIENTS[case['client']]} {case['capability']}: {described}")
    return "; ".join(parts)


def readme_table(text: str) -> str | None:
    if START not in text or END not in text:
        return None
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def update_readme(results: dict[str, Any]) -> bool:
    text = README.read_text()
    if readme_table(text) is None:
        raise SystemExit(f"README.md has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    new = f"{head}{START}\n{table(results)}\n{END}{rest.split(END, 1)[1]}"
    README.write_text(new)
    return new != text


def main() -> None:
    if not RESULTS.exists():
        raise SystemExit(f"no results yet: run `python -m pytest tests/clients` first ({RESULTS})")
    changed = update_readme(json.loads(RESULTS.read_text()))
    print("README.md updated" if changed else "README.md already matches the last run", file=sys.stderr)


if __name__ == "__main__":
    main()
