"""Derive ccgw's model table from the Command Code CLI's bundle (`src/ccgw/data/cli_models.json`).

The CLI fetches no model list: its table is compiled into `dist/cli.mjs`. This script reads that
bundle (minified, but function names survive), finds the tables through the functions that use them
(`getSupportedEfforts`, `isKnownTextOnlyModel`, `getContextLimit`, `getModelCategory`,
`getMinimumPlanForModel`, ...), evaluates their literals with a small evaluator for the subset of
JavaScript they are written in, and writes one JSON document: per model its context window, output
limit, effort levels, whether it takes images, its plan category and the cheapest plan that has it.

    python scripts/cli_models.py [--bundle PATH] [--out PATH] [--check]

Moving to a newer CLI is: pin it in tests/oracle/package.json, run the tests once (they install it),
run this script. `--check` exits 1 when the checked-in file differs from what the bundle says.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tests" / "oracle" / "node_modules" / "command-code"
OUT = ROOT / "src" / "ccgw" / "data" / "cli_models.json"

_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class BundleError(Exception):
    """The bundle does not have the shape this script knows (a new CLI may need the script updated)."""


class Function:
    """An arrow function from the bundle: one parameter (or none) and an expression body."""

    def __init__(self, param: str | None, body: int) -> None:
        self.param = param
        self.body = body


class Evaluator:
    """Evaluates JavaScript literals in the bundle: objects, arrays, strings, numbers, `!0`/`!1`,
    `new Map/Set([...])`, identifiers bound at the top level, member access and calls of small arrow
    functions (`Wr(_r)` where `Wr=__name(e=>({...}),"premium")`)."""

    def __init__(self, source: str) -> None:
        self.s = source
        self.cache: dict[str, Any] = {}

    # -- finding definitions -------------------------------------------------------------------

    def definition(self, name: str, before: int | None = None) -> int:
        """Where the value of the top-level binding `name` starts (the nearest one before `before`)."""
        pattern = re.compile(r"(?:^|[,;{}\s])" + re.escape(name) + r"=(?![=>])")
        found = [m.end() for m in pattern.finditer(self.s, 0, before if before is not None else len(self.s))]
        if not found:
            raise BundleError(f"no definition of {name!r}")
        return found[-1]

    def used_in(self, function: str, pattern: str) -> str:
        """The identifier `pattern` (one group) captures inside `function`'s body."""
        start = self.s.find(f"function {function}(")
        if start < 0:
            raise BundleError(f"function {function} is gone")
        found = re.compile(pattern).search(self.s, start, start + 800)
        if found is None:
            raise BundleError(f"{function} no longer reads its table as {pattern!r}")
        return found.group(1)

    def value_of(self, name: str) -> Any:
        if name not in self.cache:
            self.cache[name] = self.expression(self.definition(name), {})[0]
        return self.cache[name]

    # -- the expression evaluator --------------------------------------------------------------

    def skip(self, i: int) -> int:
        while i < len(self.s) and self.s[i] in " \n\t\r":
            i += 1
        return i

    def expect(self, i: int, text: str) -> int:
        i = self.skip(i)
        if not self.s.startswith(text, i):
            raise BundleError(f"expected {text!r} at {i}: {self.s[i : i + 60]!r}")
        return i + len(text)

    def expression(self, i: int, scope: dict[str, Any]) -> tuple[Any, int]:
        value, i = self.primary(self.skip(i), scope)
        while True:
            j = self.skip(i)
            if self.s.startswith(".", j) and not self.s.startswith("...", j):
                name = _IDENT.match(self.s, j + 1)
                if name is None:
                    raise BundleError(f"bad member access at {j}")
                value, i = value[name.group(0)], name.end()
            elif self.s.startswith("(", j) and isinstance(value, Function):
                args, i = self.sequence(j + 1, ")", scope)
                value = self.call(value, args)
            else:
                return value, i

    def call(self, function: Function, args: list[Any]) -> Any:
        scope = {function.param: args[0] if args else None} if function.param else {}
        return self.expression(function.body, scope)[0]

    def primary(self, i: int, scope: dict[str, Any]) -> tuple[Any, int]:
        c = self.s[i]
        if c in "\"'":
            return self.string(i)
        if c == "{":
            return self.object(i + 1, scope)
        if c == "[":
            return self.sequence(i + 1, "]", scope)
        if self.s.startswith("()=>", i):
            return self.arrow(None, i + 4)
        if c == "(":
            value, i = self.expression(i + 1, scope)
            return value, self.expect(i, ")")
        if self.s.startswith("!0", i) or self.s.startswith("!1", i):
            return self.s[i + 1] == "0", i + 2
        number = _NUMBER.match(self.s, i)
        if number:
            text = number.group(0)
            value = float(text)
            return (int(value) if value.is_integer() else value), number.end()
        if self.s.startswith("new Map(", i) or self.s.startswith("new Set(", i):
            value, i = self.expression(i + 8, scope)
            return value, self.expect(i, ")")
        if self.s.startswith("__name(", i):
            value, i = self.expression(i + 7, scope)
            i = self.expect(i, ",")
            _, i = self.string(self.skip(i))
            return value, self.expect(i, ")")
        name = _IDENT.match(self.s, i)
        if name is None:
            raise BundleError(f"cannot evaluate at {i}: {self.s[i : i + 60]!r}")
        word = name.group(0)
        if self.s.startswith("=>", name.end()):
            return self.arrow(word, name.end() + 2)
        if word in scope:
            return scope[word], name.end()
        if word in ("void", "null"):
            return None, (self.expect(name.end(), "0") if word == "void" else name.end())
        return self.value_of(word), name.end()

    def arrow(self, param: str | None, body: int) -> tuple[Function, int]:
        """The function, and the end of its body (found by evaluating it once with the parameter unset)."""
        _, end = self.expression(body, {param: None} if param else {})
        return Function(param, body), end

    def string(self, i: int) -> tuple[str, int]:
        quote, i, out = self.s[i], i + 1, []
        while self.s[i] != quote:
            if self.s[i] == "\\":
                i += 1
                out.append(_STRING_ESCAPES.get(self.s[i], self.s[i]))
            else:
                out.append(self.s[i])
            i += 1
        return "".join(out), i + 1

    def sequence(self, i: int, close: str, scope: dict[str, Any]) -> tuple[list[Any], int]:
        items: list[Any] = []
        while True:
            i = self.skip(i)
            if self.s.startswith(close, i):
                return items, i + 1
            value, i = self.expression(i, scope)
            items.append(value)
            i = self.skip(i)
            if self.s.startswith(",", i):
                i += 1

    def object(self, i: int, scope: dict[str, Any]) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        while True:
            i = self.skip(i)
            if self.s.startswith("}", i):
                return out, i + 1
            getter = re.compile(r"get ([\w$]+)\(\)\{").match(self.s, i)
            if self.s.startswith("...", i):
                value, i = self.expression(i + 3, scope)
                out.update(value)
            elif getter:  # a computed property (`get hidden(){...}`): its value is not known statically
                out[getter.group(1)], i = None, self.block_end(getter.end())
            else:
                key, i = self.key(i, scope)
                i = self.skip(i)
                if self.s.startswith(":", i):
                    out[key], i = self.expression(i + 1, scope)
                else:  # shorthand {e}
                    out[key] = scope[key] if key in scope else self.value_of(key)
            i = self.skip(i)
            if self.s.startswith(",", i):
                i += 1

    def block_end(self, i: int) -> int:
        """The position after the `}` closing the block whose body starts at `i`."""
        depth = 1
        while depth:
            c = self.s[i]
            if c in "\"'`":
                i = self.string(i)[1] if c != "`" else self.s.index("`", i + 1) + 1
                continue
            depth += {"{": 1, "}": -1}.get(c, 0)
            i += 1
        return i

    def key(self, i: int, scope: dict[str, Any]) -> tuple[str, int]:
        if self.s[i] in "\"'":
            return self.string(i)
        if self.s[i] == "[":
            value, i = self.expression(i + 1, scope)
            return str(value), self.expect(i, "]")
        name = _IDENT.match(self.s, i)
        if name is None:
            raise BundleError(f"bad object key at {i}: {self.s[i : i + 40]!r}")
        return name.group(0), name.end()


def _registry(ev: Evaluator) -> dict[str, Any]:
    """The CLI's model registry: `X={SONNET_5:{id:"claude-sonnet-5",inputModalities:[...],...},...}`."""
    found = re.search(r"([A-Za-z_$][\w$]*)=\{[A-Z][A-Z0-9_]*:\{id:[^{}]*inputModalities:", ev.s)
    if found is None:
        raise BundleError("the model registry (entries with id and inputModalities) is gone")
    value, _ = ev.expression(found.end(1) + 1, {})
    return value  # type: ignore[no-any-return]


def _min_plan(category: str | None, full_id: str, order: list[str], rules: dict[str, Any]) -> str | None:
    """`getMinimumPlanForModel`: the first plan, in the CLI's order, that allows the model."""
    if category is None:
        return order[0]  # no category: the CLI lets every plan use it
    for plan in order:
        rule = rules.get(plan)
        if rule and category in rule["allowedCategories"] and full_id not in rule.get("blockedModels", []):
            return plan
    return None


def derive(package: Path) -> dict[str, Any]:
    """The model table as `package` (an installed `command-code`) has it."""
    version = json.loads((package / "package.json").read_text())["version"]
    ev = Evaluator((package / "dist" / "cli.mjs").read_text(encoding="utf-8"))
    table: Callable[[str, str], Any] = lambda function, pattern: ev.value_of(ev.used_in(function, pattern))  # noqa: E731
    efforts = dict(table("getSupportedEfforts", r"return ([\w$]+)\.get\(t\)"))
    text_only = set(table("isKnownTextOnlyModel", r"return ([\w$]+)\.has\("))
    windows = dict(table("getContextLimit", r"return ([\w$]+)\.get\(t\)\?\?"))
    default_window = table("getContextLimit", r"\.get\(t\)\?\?([\w$]+)")
    categories = table("getModelCategory", r"return ([\w$]+)\[e\]")
    order = table("getMinimumPlanForModel", r"for\(const t of ([\w$]+)\)")
    rules = table("getMinimumPlanForModel", r"const n=([\w$]+)\[t\]")
    names = table("getPlanDisplayName", r"const t=([\w$]+)\[e\]")
    models = []
    for entry in _registry(ev).values():
        model_id = entry["id"]
        modalities = entry.get("inputModalities")
        levels = entry.get("reasoningEfforts", efforts.get(model_id))
        category = (categories.get(model_id) or {}).get("category")
        provider = (categories.get(model_id) or {}).get("provider")
        models.append(
            {
                "id": model_id,
                "name": entry.get("name") or entry.get("label") or model_id,
                "context_window": entry.get("contextWindow") or windows.get(model_id) or default_window,
                "max_output_tokens": entry.get("maxOutputTokens"),
                "text_only": ("image" not in modalities) if modalities is not None else model_id in text_only,
                "reasoning_efforts": list(levels) if levels else [],
                "hidden": bool(entry.get("hidden")),
                "category": category,
                "min_plan": _min_plan(category, f"{provider}:{model_id}", order, rules),
            }
        )
    models.sort(key=lambda m: m["id"].lower())
    plans = {
        plan: {
            "name": names.get(plan, plan),
            "allowed_categories": rules[plan]["allowedCategories"],
            "blocked_models": rules[plan].get("blockedModels", []),
        }
        for plan in order
    }
    return {"cli_version": version, "default_context_window": default_window, "plans": plans, "models": models}


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=PACKAGE, help="an installed command-code package")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="only compare with the file at --out")
    args = parser.parse_args(argv)
    text = render(derive(args.package))
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{args.out} differs from what the bundle says", file=sys.stderr)
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
