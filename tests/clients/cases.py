"""What the client suite runs: every client × capability case, each a job (one process) and a check.

Clients are configured from the README's own recipes (`harness.recipes`); the only substitutions
are the gateway's address and the local key. Test-only additions, each named where it is made:
retries turned off for the error cases (so a refused request surfaces at once instead of after the
client's backoff), Codex's approval for the test MCP server's tool, permission for Claude Code to
run the one tool a case asks for, and `--skip-trust` for Gemini CLI (the README's note for headless
runs in a new folder). Prompts carry `fake:` markers that pick the fake upstream's
scenario (tests/fakecc); `agent(tool=NAME)` makes it call one of the client's own tools, and a
conversation that ends in a tool result is answered with `Tool result: <the result>`.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.clients.harness import HERE, Job, Result, exports, localize, modern_node

CAPABILITIES = ("plain", "stream", "reasoning", "tools", "images", "errors")
CLIENTS = {
    "claude-code": "Claude Code",
    "codex": "Codex CLI",
    "opencode": "opencode",
    "ai-sdk-openai": "Vercel AI SDK, `@ai-sdk/openai-compatible`",
    "ai-sdk-anthropic": "Vercel AI SDK, `@ai-sdk/anthropic`",
    "langchain": "LangChain `ChatOpenAI`",
    "langchain-responses": "LangChain `ChatOpenAI(use_responses_api=True)`",
    "openai-agents": "openai-agents",
    "gemini-cli": "Gemini CLI",
    "google-genai": "google-genai Python SDK",
}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
HELLO = "Hello from deepseek/deepseek-v4-pro."
VISION = "deepseek/deepseek-v4-flash-vision-exp"  # images go to it: deepseek-v4-pro takes text only
STREAMED = "fake:slow(deltas=5,delay=0.05)"
RATE_LIMITED = "fake:http_429(window=none,retry_after=0)"
# An error after the client has had text (and with more text in the same upstream read), so that it
# reaches the client inside a 200 stream, not as an HTTP error before the first byte.
MID_STREAM = "fake:inband_error(status=500,message=provider dropped,pause=0.3)"


@dataclass(frozen=True)
class Stack:
    """What a case needs to know about this run."""

    url: str  # the gateway, e.g. http://127.0.0.1:PORT
    key: str
    prefix: Path  # where node_modules lives
    recipes: dict[str, tuple[str, str]]
    requests: Callable[[], list[dict[str, Any]]]  # the fake upstream's recorded model requests (either path)

    def bin(self, name: str) -> str:
        return str(self.prefix / "node_modules" / ".bin" / name)

    def recipe(self, name: str) -> str:
        return localize(self.recipes[name][1], self.url, self.key)

    def on(self, url: str) -> Stack:
        """The same run against another gateway (the one the rate-limit cases cool down)."""
        return Stack(url, self.key, self.prefix, self.recipes, self.requests)


@dataclass(frozen=True)
class Case:
    client: str
    capability: str
    variant: str  # what distinguishes cases of one capability (e.g. "429", "mid-stream")
    build: Callable[[Stack, str], Job]  # (stack, job name) → job
    check: Callable[[Result, Stack], None]
    limitation: str = ""  # set when a failing check is the client's own limit, not ccgw's

    @property
    def cools_down(self) -> bool:
        """A 429 cools the gateway's account down: such cases get a gateway of their own."""
        return self.variant == "429"

    @property
    def through_provider(self) -> bool:
        """Run against the gateway whose account is on the Provider plan (the Provider API)."""
        return self.variant.startswith("provider")

    @property
    def name(self) -> str:
        return f"{self.client}--{self.capability}" + (f"--{self.variant}" if self.variant else "")


def tag(name: str) -> str:
    """The token a case puts in its prompt, to find its requests in the fake's log."""
    return f"[case {name}]"


def expect(condition: bool, result: Result, what: str) -> None:
    assert condition, f"{what}\n{result.explain()}"


def ok_with(text: str) -> Callable[[Result, Stack], None]:
    def check(result: Result, stack: Stack) -> None:
        expect(result.returncode == 0 and text in result.stdout, result, f"expected exit 0 and {text!r} in the output")

    return check


def failed_with(*needles: str) -> Callable[[Result, Stack], None]:
    """The client reported an error (its own exit status or error object) naming one of `needles`."""

    def check(result: Result, stack: Stack) -> None:
        expect(not result.timed_out, result, "the client hung instead of reporting the error")
        low = result.output.lower()
        expect(result.returncode != 0 or '"error"' in low, result, "the client did not report a failure")
        expect(any(n.lower() in low for n in needles), result, f"none of {needles} in the client's error")

    return check


def reported_while_retrying(*needles: str) -> Callable[[Result, Stack], None]:
    """For a client that retries failures without end (opencode): the error is in its log (the run
    ends once it is, see `Job.stop_when`)."""

    def check(result: Result, stack: Stack) -> None:
        low = result.output.lower()
        expect(any(n.lower() in low for n in needles), result, f"none of {needles} in the client's log")

    return check


def sent_image(result: Result, stack: Stack) -> None:
    """The fake upstream got an image part in a request of this case (CLI endpoint or Provider API)."""
    token = tag(result.name)
    for request in stack.requests():
        body = request.get("body") or {}
        text = json.dumps(body.get("params", body).get("messages", []))
        if token in text and ('"type": "image"' in text or '"type": "image_url"' in text):
            expect(result.returncode == 0 and not result.timed_out, result, "the client failed")
            return
    expect(False, result, "no upstream request of this case carried an image")


def both(*checks: Callable[[Result, Stack], None]) -> Callable[[Result, Stack], None]:
    def check(result: Result, stack: Stack) -> None:
        for one in checks:
            one(result, stack)

    return check


# --- Claude Code -------------------------------------------------------------------------------------


def claude(
    *args: str, env: dict[str, str] | None = None, files: dict[str, str | bytes] | None = None
) -> Callable[[Stack, str], Job]:
    def build(stack: Stack, name: str) -> Job:
        argv = [stack.bin("claude"), *(a.replace("{tag}", tag(name)) for a in args)]
        settings = exports(stack.recipe("claude-code"))
        return Job(name, argv, env={**settings, **(env or {})}, files=files or {}, timeout=120)

    return build


def stream_json_has(kind: str, needle: str) -> Callable[[Result, Stack], None]:
    """`--output-format stream-json`: an assistant message with a `kind` block containing `needle`."""

    def check(result: Result, stack: Stack) -> None:
        blocks = [
            block
            for event in result.json_lines()
            if event.get("type") == "assistant"
            for block in event.get("message", {}).get("content", [])
        ]
        found = [b for b in blocks if b.get("type") == kind and needle in json.dumps(b)]
        final = [e for e in result.json_lines() if e.get("type") == "result"]
        expect(
            bool(found) and bool(final) and final[-1].get("is_error") is False,
            result,
            f"no {kind} block with {needle!r}",
        )

    return check


def partial_deltas(result: Result, stack: Stack) -> None:
    deltas = [
        e
        for e in result.json_lines()
        if e.get("type") == "stream_event" and e["event"].get("type") == "content_block_delta"
    ]
    expect(len(deltas) >= 3, result, "expected several streamed content_block_delta events")


CLAUDE_ERRORS = {"CLAUDE_CODE_MAX_RETRIES": "0"}  # test-only: surface the error at once
CLAUDE_ROLES = (
    "ANTHROPIC_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
)


def claude_on(model: str) -> dict[str, str]:
    """Claude Code on another model than the recipe's (test-only), for every role it picks one for."""
    return dict.fromkeys(CLAUDE_ROLES, model)


# --- Codex -------------------------------------------------------------------------------------------


def codex_config(stack: Stack, *, no_retries: bool = False, mcp: bool = False) -> str:
    config = stack.recipe("codex")
    if no_retries:  # test-only: inside the recipe's provider table
        config = config.replace(
            "[model_providers.ccgw]\n", "[model_providers.ccgw]\nrequest_max_retries = 0\nstream_max_retries = 0\n"
        )
    if mcp:  # test-only: the tiny MCP server of tests/clients, its tool approved for `codex exec`
        server = json.dumps(str(HERE / "mcp_probe.py"))
        config += (
            f"\n\n[mcp_servers.probe]\ncommand = {json.dumps(sys.executable)}\nargs = [{server}]\n"
            'default_tools_approval_mode = "approve"\n'
        )
    return config


def codex(
    *args: str, no_retries: bool = False, mcp: bool = False, files: dict[str, str | bytes] | None = None
) -> Callable[[Stack, str], Job]:
    def build(stack: Stack, name: str) -> Job:
        argv = [stack.bin("codex"), "exec", "--skip-git-repo-check", *(a.replace("{tag}", tag(name)) for a in args)]
        config = codex_config(stack, no_retries=no_retries, mcp=mcp)
        return Job(
            name, argv, env={"CCGW_API_KEY": stack.key}, home_files={".codex/config.toml": config}, files=files or {}
        )

    return build


def codex_event(kind: str, needle: str) -> Callable[[Result, Stack], None]:
    """`codex exec --json`: a completed item of type `kind` whose text holds `needle`."""

    def check(result: Result, stack: Stack) -> None:
        items = [e.get("item", {}) for e in result.json_lines() if e.get("type") == "item.completed"]
        found = [i for i in items if i.get("type") == kind and needle in json.dumps(i)]
        expect(result.returncode == 0 and bool(found), result, f"no completed {kind} item with {needle!r}")

    return check


# --- opencode ----------------------------------------------------------------------------------------


OPENCODE_QUIET = {  # test-only: nothing it would fetch from the internet (models.dev, LSPs, plugins)
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
}


def opencode(
    *args: str, files: dict[str, str | bytes] | None = None, stop_when: str = ""
) -> Callable[[Stack, str], Job]:
    def build(stack: Stack, name: str) -> Job:
        argv = [stack.bin("opencode"), "run", *(a.replace("{tag}", tag(name)) for a in args)]
        config = {"opencode.json": stack.recipe("opencode"), **(files or {})}
        env = {"CCGW_API_KEY": stack.key, **OPENCODE_QUIET}
        return Job(name, argv, env=env, files=config, timeout=120, stop_when=stop_when)

    return build


def opencode_json(kind: str, needle: str) -> Callable[[Result, Stack], None]:
    def check(result: Result, stack: Stack) -> None:
        found = [e for e in result.json_lines() if e.get("type") == kind and needle in json.dumps(e)]
        expect(result.returncode == 0 and bool(found), result, f"no {kind} event with {needle!r}")

    return check


# --- Gemini CLI --------------------------------------------------------------------------------------


GEMINI_ERRORS = {"general": {"maxAttempts": 1}}  # test-only: surface the error at once (it tries 10 times)


def gemini_settings(stack: Stack, extra: dict[str, Any] | None = None) -> str:
    """The README's `~/.gemini/settings.json`, with a case's test-only additions merged in."""
    settings = json.loads(stack.recipe("gemini-cli-settings"))
    for section, values in (extra or {}).items():
        settings[section] = {**settings.get(section, {}), **values}
    return json.dumps(settings, indent=2)


def gemini(
    *args: str, settings: dict[str, Any] | None = None, files: dict[str, str | bytes] | None = None
) -> Callable[[Stack, str], Job]:
    """`gemini --skip-trust ARGS` with the README's settings.json and exports (`gemini-cli` recipe),
    run by Node 22 (see `harness.modern_node`)."""

    def build(stack: Stack, name: str) -> Job:
        argv = [modern_node(), stack.bin("gemini"), "--skip-trust", *(a.replace("{tag}", tag(name)) for a in args)]
        home = {".gemini/settings.json": gemini_settings(stack, settings)}
        env = exports(stack.recipe("gemini-cli"))
        return Job(name, argv, env=env, home_files=home, files=files or {}, timeout=120)

    return build


def gemini_streamed(result: Result, stack: Stack) -> None:
    """`--output-format stream-json`: the answer in several assistant deltas, and a successful result."""
    deltas = [e["content"] for e in result.json_lines() if e.get("type") == "message" and e.get("delta")]
    final = [e for e in result.json_lines() if e.get("type") == "result"]
    expect(
        result.returncode == 0 and len(deltas) >= 3 and "".join(deltas) == "tok0 tok1 tok2 tok3 tok4 "
        and bool(final) and final[-1].get("status") == "success",
        result,
        "expected the answer in several stream-json deltas and a successful result",
    )  # fmt: skip


def gemini_thoughts(result: Result, stack: Stack) -> None:
    """Headless runs print no thoughts (any output format); the CLI keeps them in its session record."""
    home = Path(result.work).parent / "home" / ".gemini"
    records = [json.loads(line) for path in home.glob("tmp/*/chats/*.jsonl") for line in path.read_text().splitlines()]
    thoughts = [t.get("description") for r in records if r.get("type") == "gemini" for t in r.get("thoughts") or []]
    expect(result.returncode == 0 and HELLO in result.stdout, result, "expected exit 0 and the answer")
    expect("Let me think." in thoughts, result, f"no thought 'Let me think.' in its session record: {thoughts}")


# --- SDK drivers (Vercel AI SDK, LangChain, openai-agents, google-genai) ------------------------------


def driver(client: str, case: str, prompt: str) -> Callable[[Stack, str], Job]:
    """One Vercel AI SDK call (`ai_sdk.mjs`): node starts fast, so one process per case."""

    def build(stack: Stack, name: str) -> Job:
        argv = ["node", str(stack.prefix / "ai_sdk.mjs"), client, case, f"{tag(name)} {prompt}", "pic.png"]
        env = {"CCGW_BASE_URL": stack.url, "CCGW_API_KEY": stack.key, "AI_SDK_LOG_WARNINGS": "false"}
        return Job(name, argv, env=env, files={"pic.png": PNG}, timeout=90)

    return build


def py_group(client: str, group: str, members: list[tuple[str, str, str]]) -> Callable[[Stack, str], Job]:
    """Several cases of a Python client in one process (`py_clients.py`): importing LangChain costs
    seconds of CPU, so each client's cases share it. `members`: (case name, kind, prompt)."""

    def build(stack: Stack, name: str) -> Job:
        spec = [(case, kind, f"{tag(case)} {prompt}") for case, kind, prompt in members]
        argv = [sys.executable, str(HERE / "py_clients.py"), client, json.dumps(spec), "pic.png"]
        env = {"CCGW_BASE_URL": stack.url, "CCGW_API_KEY": stack.key}
        return Job(group, argv, env=env, files={"pic.png": PNG}, timeout=180)

    return build


def answered(key: str, test: Callable[[Any], bool], what: str) -> Callable[[Result, Stack], None]:
    def check(result: Result, stack: Stack) -> None:
        lines = result.json_lines()
        value = lines[-1].get(key) if lines else None
        expect(result.returncode == 0 and test(value), result, what)

    return check


HELLO_SAID = answered("text", lambda t: t == HELLO, "expected the plain answer")
STREAM_SEEN = both(
    answered("text", lambda t: t == "tok0 tok1 tok2 tok3 tok4 ", "expected the streamed text"),
    answered("deltas", lambda n: isinstance(n, int) and n >= 3, "expected several deltas"),
)
THOUGHT_SEEN = answered("reasoning", lambda r: r == "Let me think.", "expected the reasoning text")


def driver_cases(client: str, runtime: str, name: str, *, reasoning_limit: str = "") -> list[Case]:
    """The capabilities of an SDK driven by `ai_sdk.mjs` or `py_clients.py` (its plain case is the
    README recipe, see :func:`cases`, except where it has none)."""
    hello, streamed, thought = HELLO_SAID, STREAM_SEEN, THOUGHT_SEEN
    looped = answered("text", lambda t: t == "Tool result: sunny-30 in Paris", "expected the tool loop's final answer")
    specs = [  # capability, variant, kind, prompt, check
        ("stream", "", "stream", STREAMED, streamed),
        ("reasoning", "", "reasoning", "fake:reasoning", thought),
        ("tools", "", "tools", "fake:agent(tool=get_weather,text=Paris)", looped),
        (
            "images",
            "",
            "image",
            "what is this?",
            both(answered("text", lambda t: t == f"Hello from {VISION}.", "expected the plain answer"), sent_image),
        ),
        ("errors", "429", "plain", RATE_LIMITED, failed_with("429", "rate")),
        ("errors", "mid-stream", "stream", MID_STREAM, failed_with("provider dropped", "error")),
    ]
    if client not in RECIPE_OF:
        specs.insert(0, ("plain", "", "plain", "hello", hello))

    def named(capability: str, variant: str) -> str:
        return f"{client}--{capability}" + (f"--{variant}" if variant else "")

    groups: dict[str, list[tuple[str, str, str]]] = {"main": [], "limits": []}
    for capability, variant, kind, prompt, _ in specs:
        groups["limits" if variant == "429" else "main"].append((named(capability, variant), kind, prompt))
    out = []
    for capability, variant, kind, prompt, check in specs:
        if runtime == "node":
            build = driver(name, "generate" if kind == "plain" else kind, prompt)
        else:
            group = "limits" if variant == "429" else "main"
            build = py_group(name, f"{client}--py-{group}", groups[group])
        limitation = reasoning_limit if capability == "reasoning" else ""
        out.append(Case(client, capability, variant, build, check, limitation))
    return out


RECIPE_OF = {  # client → the README recipe that is its plain case, run as written
    "claude-code": "claude-code",
    "codex": "codex",
    "opencode": "opencode",
    "ai-sdk-openai": "vercel-ai-sdk-openai",
    "ai-sdk-anthropic": "vercel-ai-sdk-anthropic",
    "langchain": "langchain",
    "openai-agents": "openai-agents",
    "gemini-cli": "gemini-cli",
    "google-genai": "google-genai",
}
RECIPE_PARTS = {  # README recipes that are part of another's run: their result is that run's
    "gemini-cli-settings": "gemini-cli",
    "gemini-cli-aliases": "gemini-cli",  # ccgw's config.yaml: the suite's gateways use it
}


def recipe_job(recipe: str) -> Callable[[Stack, str], Job]:
    """A README recipe as written (address and key substituted); the CLIs get the prompt `hello`."""

    def build(stack: Stack, name: str) -> Job:
        language = stack.recipes[recipe][0]
        code = stack.recipe(recipe)
        env = {"CCGW_API_KEY": stack.key, "CCGW_KEY": stack.key}
        if recipe == "claude-code":
            return claude("-p", "hello")(stack, name)
        if recipe == "codex":
            return codex("hello")(stack, name)
        if recipe == "opencode":
            return opencode("hello")(stack, name)
        if recipe == "gemini-cli":
            return gemini("-p", "hello")(stack, name)
        if language == "python":
            return Job(name, [sys.executable, "recipe.py"], env=env, files={"recipe.py": code})
        if language == "js":  # node resolves packages upwards from the script: beside the suite's node_modules
            script = stack.prefix / ".recipes" / f"{recipe}.mjs"
            script.parent.mkdir(exist_ok=True)
            script.write_text(code)
            return Job(name, ["node", str(script)], env=env)
        return Job(name, ["bash", "-euo", "pipefail", "-c", code], env=env)

    return build


def cases() -> list[Case]:
    image = {"pic.png": PNG}
    return [
        # Claude Code: `claude -p`, configured by the README's exports
        *(Case(client, "plain", "", recipe_job(recipe), ok_with(HELLO)) for client, recipe in RECIPE_OF.items()),
        Case(
            "claude-code",
            "stream",
            "",
            claude(
                "-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages", f"{{tag}} {STREAMED}"
            ),
            both(stream_json_has("text", "tok4"), partial_deltas),
        ),
        Case(
            "claude-code",
            "reasoning",
            "",
            claude("-p", "--output-format", "stream-json", "--verbose", "{tag} fake:reasoning"),
            stream_json_has("thinking", "Let me think."),
        ),
        Case(
            "claude-code",
            "tools",
            "",
            claude("-p", "--allowedTools=Bash", "{tag} fake:agent(tool=Bash)"),
            ok_with("Tool result: ccgw-42"),
        ),
        Case(
            "claude-code",
            "tools",
            "tool-search",
            claude(
                "-p",
                "--allowedTools=ToolSearch",
                "{tag} fake:agent(tool=ToolSearch,text=select:WebFetch)",
                env={"ENABLE_TOOL_SEARCH": "true"},
            ),
            ok_with("Tool result: Tool WebFetch is now available."),
        ),
        Case(
            "claude-code",
            "images",
            "",
            claude(
                "-p",
                "--allowedTools=Read",
                "{tag} fake:agent(tool=Read,text={work}/pic.png)",
                files=image,
                env=claude_on(VISION),
            ),
            sent_image,
        ),
        Case(
            "claude-code",
            "errors",
            "429",
            claude("-p", f"{{tag}} {RATE_LIMITED}", env=CLAUDE_ERRORS),
            failed_with("429", "rate limit"),
        ),
        Case(
            "claude-code",
            "errors",
            "mid-stream",
            claude("-p", f"{{tag}} {MID_STREAM}", env=CLAUDE_ERRORS),
            failed_with("provider dropped", "api error"),
        ),
        # Codex CLI: `codex exec` with the README's config.toml
        Case("codex", "stream", "", codex("--json", f"{{tag}} {STREAMED}"), codex_event("agent_message", "tok4")),
        Case(
            "codex", "reasoning", "", codex("--json", "{tag} fake:reasoning"), codex_event("reasoning", "Let me think.")
        ),
        Case("codex", "tools", "", codex("{tag} fake:agent(tool=exec_command)"), ok_with("ccgw-42")),
        Case(
            "codex",
            "tools",
            "mcp",
            codex("{tag} fake:agent(tool=mcp__probe__echo,text=hi)", mcp=True),
            ok_with("mcp-echo: hi"),
        ),
        Case(
            "codex",
            "tools",
            "custom",
            codex("-m", "gpt-5.6-luna", "--json", "{tag} fake:agent(tool=functions__exec,text=ccgw)"),
            codex_event("agent_message", "Tool result: Script"),
        ),
        Case(
            "codex",
            "images",
            "",
            codex("-m", VISION, "--image=pic.png", "{tag} what is this?", files=image),
            sent_image,
        ),
        Case(
            "codex",
            "errors",
            "429",
            codex(f"{{tag}} {RATE_LIMITED}", no_retries=True),
            failed_with("429", "rate limit"),
        ),
        Case(
            "codex",
            "errors",
            "mid-stream",
            codex(f"{{tag}} {MID_STREAM}", no_retries=True),
            failed_with("provider dropped", "error"),
        ),
        # opencode: `opencode run` with the README's opencode.json
        Case(
            "opencode", "stream", "", opencode("--format", "json", f"{{tag}} {STREAMED}"), opencode_json("text", "tok4")
        ),
        Case(
            "opencode",
            "reasoning",
            "",
            opencode("--format", "json", "--thinking", "{tag} fake:reasoning"),
            opencode_json("reasoning", "Let me think."),
        ),
        Case("opencode", "tools", "", opencode("{tag} fake:agent(tool=bash)"), ok_with("Tool result: ccgw-42")),
        Case(
            "opencode",
            "images",
            "",
            opencode("-m", f"ccgw/{VISION}", "{tag} what is this?", "--file=pic.png", files=image),
            sent_image,
        ),
        Case(
            "opencode",
            "errors",
            "429",
            opencode("--print-logs", f"{{tag}} {RATE_LIMITED}", stop_when="rate limit reached"),
            reported_while_retrying("rate limit reached"),
        ),
        Case(
            "opencode",
            "errors",
            "mid-stream",
            opencode("--print-logs", f"{{tag}} {MID_STREAM}", stop_when="upstream 500: provider dropped"),
            reported_while_retrying("upstream 500: provider dropped"),
        ),
        *driver_cases("ai-sdk-openai", "node", "openai-compatible"),
        *driver_cases("ai-sdk-anthropic", "node", "anthropic"),
        *driver_cases(
            "langchain",
            "python",
            "langchain",
            reasoning_limit="ChatOpenAI keeps no `reasoning_content` from chat completions (use the Responses API)",
        ),
        *driver_cases("langchain-responses", "python", "langchain-responses"),
        *driver_cases("openai-agents", "python", "agents"),
        # Gemini CLI: `gemini -p` with the README's settings.json and exports
        Case(
            "gemini-cli",
            "plain",
            "gemini-id",
            gemini("-m", "gemini-3-flash-preview", "-p", "hello"),
            ok_with("Hello from deepseek/deepseek-v4-flash."),
        ),
        Case(
            "gemini-cli",
            "stream",
            "",
            gemini("--output-format", "stream-json", "-p", f"{{tag}} {STREAMED}"),
            gemini_streamed,
        ),
        Case("gemini-cli", "reasoning", "session", gemini("-p", "{tag} fake:reasoning"), gemini_thoughts),
        Case(
            "gemini-cli",
            "tools",
            "",
            gemini(
                "-p", "{tag} fake:agent(tool=read_file,text=notes.txt)", files={"notes.txt": "the secret is ccgw-42\n"}
            ),
            ok_with("Tool result: the secret is ccgw-42"),
        ),
        Case(
            "gemini-cli",
            "tools",
            "yolo",
            gemini("--yolo", "-p", "{tag} fake:agent(tool=run_shell_command,text=echo ccgw-42)"),
            ok_with("Output: ccgw-42"),
        ),
        Case(
            "gemini-cli",
            "images",
            "",
            gemini("-m", VISION, "-p", "{tag} what is this? @pic.png", files=image),
            sent_image,
        ),
        Case(
            "gemini-cli",
            "errors",
            "429",
            gemini("-p", f"{{tag}} {RATE_LIMITED}", settings=GEMINI_ERRORS),
            failed_with("429"),
        ),
        Case(
            "gemini-cli",
            "errors",
            "mid-stream",
            gemini("-p", f"{{tag}} {MID_STREAM}", settings=GEMINI_ERRORS),
            failed_with("provider dropped"),
        ),
        *driver_cases("google-genai", "python", "genai"),
        *provider_cases(),
    ]


CLAUDE_MODEL = claude_on("claude-sonnet-4-6")


def provider_cases() -> list[Case]:
    """A representative subset again through a gateway whose account is on the Provider plan (`upstream:
    auto` finds the Provider API): each dialect translated to chat completions (Claude Code and the
    Anthropic SDK on DeepSeek, Codex's Responses), OpenAI chat clients nearly as they came (opencode, the
    OpenAI-compatible SDK), and Claude Code on Claude nearly as it came to `/messages`, its signed thinking
    replayed in a tool loop. Variants start with `provider`, which picks that gateway."""
    image = {"pic.png": PNG}
    bash = "--allowedTools=Bash"
    return [
        Case(
            "claude-code",
            "tools",
            "provider",
            claude("-p", bash, "{tag} fake:agent(tool=Bash)"),
            ok_with("Tool result: ccgw-42"),
        ),
        Case(
            "claude-code",
            "reasoning",
            "provider-claude",
            claude("-p", "--output-format", "stream-json", "--verbose", "{tag} fake:reasoning", env=CLAUDE_MODEL),
            stream_json_has("thinking", "Let me think."),
        ),
        Case(
            "claude-code",
            "tools",
            "provider-claude",
            claude("-p", bash, "{tag} fake:agent(tool=Bash,reasoning=true)", env=CLAUDE_MODEL),
            ok_with("Tool result: ccgw-42"),
        ),
        Case("codex", "tools", "provider", codex("{tag} fake:agent(tool=exec_command)"), ok_with("ccgw-42")),
        Case(
            "codex",
            "errors",
            "provider-mid-stream",
            codex(f"{{tag}} {MID_STREAM}", no_retries=True),
            failed_with("provider dropped", "error"),
        ),
        Case("opencode", "tools", "provider", opencode("{tag} fake:agent(tool=bash)"), ok_with("Tool result: ccgw-42")),
        Case(
            "opencode",
            "images",
            "provider",
            opencode(
                "-m", "ccgw/deepseek/deepseek-v4-flash-vision-exp", "{tag} what is this?", "--file=pic.png", files=image
            ),
            sent_image,
        ),
        Case("ai-sdk-openai", "stream", "provider", driver("openai-compatible", "stream", STREAMED), STREAM_SEEN),
        Case(
            "ai-sdk-anthropic",
            "reasoning",
            "provider",
            driver("anthropic", "reasoning", "fake:reasoning"),
            THOUGHT_SEEN,
        ),
    ]


def recipe_jobs(stack: Stack) -> dict[str, Job]:
    """The README recipes that are no client's plain case, each run as written (by recipe name)."""
    plain = set(RECIPE_OF.values()) | set(RECIPE_PARTS)
    return {name: recipe_job(name)(stack, f"recipe--{name}") for name in stack.recipes if name not in plain}
