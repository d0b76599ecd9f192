"""Named scenarios of the fake ``/alpha/generate``: what the upstream streams back, quirks and failures
included (upstream-protocol.md §3.3 sequences, §3.1 framing, §4 errors, §6 quirks, §9 checklist).

A scenario is a pure function ``(RequestContext, Options) -> StreamPlan | HttpError``: the lines to
stream (plus pacing and framing), or an error to answer before any body byte. The server picks one per
request: a queued spec from ``FakeState.script``, else a ``fake:NAME(k=v,…)`` marker in the text of the
last user message, else ``FakeState.default_scenario``.

Parameters every streaming scenario understands: ``deltas`` (number of text deltas; without ``text``
they read ``tok0 ``, ``tok1 ``, …), ``text`` (the answer, split into words, or into ``deltas`` even
pieces), ``delay`` (seconds between events) and ``framing`` (``ndjson`` | ``sse``). ``stall`` and
``hang_headers`` read ``delay`` as the length of their silence instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

from . import errors
from .catalog import BY_ID
from .errors import HttpError
from .events import START, RequestContext, Turn, dumps, echo_json, text_delta, tool_call_id

FRAMINGS: Final = ("ndjson", "sse")
MARKER_RE: Final = re.compile(r"fake:([a-z0-9_]+)(?:\(([^)]*)\))?")
SPEC_RE: Final = re.compile(r"^([a-z0-9_]+)(?:\(([^)]*)\))?$")
_INT_RE: Final = re.compile(r"^-?\d+$")
_FLOAT_RE: Final = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+)([eE]-?\d+)?$")
_WORD_RE: Final = re.compile(r"\s*\S+")
FOREVER: Final = 3600.0


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A 200 response: ``lines`` are the events, framed by the server.

    ``usage`` is the ``totalUsage`` of the turn's (first) ``finish``, or None when the turn failed.
    ``stall`` keeps the connection silent after the last line; ``header_delay`` withholds even the
    response headers; ``abort`` drops the connection instead of ending the body cleanly. With
    ``split_at``, the body goes out in two chunks ``delay`` apart: the lines before it, then the rest.
    """

    lines: list[str]
    usage: dict[str, Any] | None = None
    delay: float = 0.0
    stall: float = 0.0
    header_delay: float = 0.0
    framing: str = "ndjson"
    trailing_newline: bool = True
    abort: bool = False
    split_at: int = 0


Outcome = StreamPlan | HttpError


@dataclass(frozen=True, slots=True)
class Selection:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Options:
    """Typed access to a scenario's ``k=v`` parameters."""

    params: dict[str, Any]
    default_framing: str = "ndjson"

    def get_int(self, key: str, default: int) -> int:
        return int(self.params.get(key, default))

    def opt_int(self, key: str) -> int | None:
        value = self.params.get(key)
        return None if value is None else int(value)

    def get_float(self, key: str, default: float) -> float:
        return float(self.params.get(key, default))

    def get_str(self, key: str, default: str) -> str:
        return str(self.params.get(key, default))

    def opt_str(self, key: str) -> str | None:
        value = self.params.get(key)
        return None if value is None else str(value)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.params.get(key, default)
        return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}

    @property
    def framing(self) -> str:
        framing = self.get_str("framing", self.default_framing)
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
        return framing


# ---------------------------------------------------------------------------------------------------
# Selecting a scenario


def coerce(value: str) -> Any:
    value = value.strip()
    if value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if _INT_RE.match(value):
        return int(value)
    if _FLOAT_RE.match(value):
        return float(value)
    return value


def parse_params(text: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"scenario parameter {item!r} is not k=v")
        params[key.strip()] = coerce(value)
    return params


def parse_spec(spec: str | dict[str, Any]) -> Selection:
    """``"name"``, ``"name(k=v,k=v)"`` or ``{"name": …, "params": {…}}``; unknown names raise."""
    if isinstance(spec, dict):
        selection = Selection(str(spec["name"]), dict(spec.get("params") or {}))
    else:
        match = SPEC_RE.match(spec.strip())
        if match is None:
            raise ValueError(f"malformed scenario spec {spec!r}")
        selection = Selection(match.group(1), parse_params(match.group(2)))
    if selection.name not in SCENARIOS:
        raise ValueError(f"unknown scenario {selection.name!r}")
    return selection


def find_marker(text: str) -> Selection | None:
    match = MARKER_RE.search(text)
    if match is None:
        return None
    return parse_spec(match.group(0).removeprefix("fake:"))


def message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(p["text"] for p in content if p.get("type") == "text" and isinstance(p.get("text"), str))


def last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def run(selection: Selection, ctx: RequestContext, default_framing: str = "ndjson") -> Outcome:
    return SCENARIOS[selection.name](ctx, Options(selection.params, default_framing))


# ---------------------------------------------------------------------------------------------------
# Helpers


def split_words(text: str) -> list[str]:
    """``"Hello from x."`` → ``["Hello", " from", " x."]``; the pieces concatenate to ``text``."""
    pieces = _WORD_RE.findall(text)
    rest = text[sum(map(len, pieces)) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces = [rest]
    return pieces


def split_even(text: str, count: int) -> list[str]:
    size = len(text)
    return [text[i * size // count : (i + 1) * size // count] for i in range(count)]


def default_answer(ctx: RequestContext) -> str:
    return f"Hello from {ctx.model}."


def answer_pieces(o: Options, default_text: str) -> list[str]:
    text, deltas = o.opt_str("text"), o.opt_int("deltas")
    if text is None and deltas is not None:
        return [f"tok{i} " for i in range(deltas)]
    text = default_text if text is None else text
    return split_even(text, deltas) if deltas else split_words(text)


def emit_answer(turn: Turn, o: Options, default_text: str) -> Turn:
    if o.opt_str("text") is None and (deltas := o.opt_int("deltas")) is not None:
        return turn.numbered_text(deltas)
    return turn.text(answer_pieces(o, default_text))


def plan(turn: Turn, o: Options, **overrides: Any) -> StreamPlan:
    settings: dict[str, Any] = {"delay": o.get_float("delay", 0.0), "framing": o.framing}
    settings.update(overrides)
    return StreamPlan(lines=turn.lines, usage=turn.usage, **settings)


def first_tool(ctx: RequestContext) -> str:
    names = ctx.tool_names
    return names[0] if names else "read_file"


def input_fragments(tool_input: dict[str, Any]) -> list[str]:
    """Streamed argument text split after the first ``:``, as in the §3.3 (b) example."""
    text = dumps(tool_input)
    cut = text.find(":") + 1
    return [text[:cut], text[cut:]]


# ---------------------------------------------------------------------------------------------------
# Successful turns


def text(ctx: RequestContext, o: Options) -> StreamPlan:
    """§3.3 (a): plain text, no reasoning."""
    turn = emit_answer(Turn(ctx).start(), o, default_answer(ctx)).finish()
    return plan(turn, o)


def echo(ctx: RequestContext, o: Options) -> StreamPlan:
    """Answers with the last user message's text (markers removed) — handy for translation tests."""
    said = MARKER_RE.sub("", ctx.last_user_text).strip()
    turn = Turn(ctx).start()
    pieces = answer_pieces(o, said)
    if pieces:
        turn.text(pieces)
    return plan(turn.finish(), o)


def reasoning(ctx: RequestContext, o: Options) -> StreamPlan:
    """§3.3 (c): thinking, with ``text-start`` arriving before ``reasoning-end``."""
    thoughts = split_words(o.get_str("reasoning", "Let me think."))
    turn = Turn(ctx).start().reasoning(thoughts, then_text=answer_pieces(o, default_answer(ctx)))
    return plan(turn.finish(), o)


def slow(ctx: RequestContext, o: Options) -> StreamPlan:
    """Text paced by ``delay``: for keep-alive, idle-timeout and concurrency tests."""
    paced = Options({"deltas": 10, "delay": 0.05, **o.params}, o.default_framing)
    return text(ctx, paced)


def zero_output(ctx: RequestContext, o: Options) -> StreamPlan:
    """A clean ``finish`` with no content and ``outputTokens: 0`` (§6.7)."""
    return plan(Turn(ctx).start().finish(), o)


def length(ctx: RequestContext, o: Options) -> StreamPlan:
    turn = emit_answer(Turn(ctx).start(), o, default_answer(ctx))
    return plan(turn.finish("length", "max_output_tokens"), o)


def cache_write(ctx: RequestContext, o: Options) -> StreamPlan:
    """Cache writes both in ``inputTokenDetails`` and as the standalone CLI ≥1.65.2 event (§3.2).

    ``in_usage=false`` leaves them out of the usage objects, so only the standalone event tells.
    """
    turn = emit_answer(Turn(ctx).start(), o, default_answer(ctx))
    written = min(o.get_int("tokens", 1024), ctx.input_tokens - ctx.cache_read)
    turn.event({"type": "cache-write-tokens", "tokens": written})
    usage = turn.compute_usage(cache_write=written if o.get_bool("in_usage", True) else 0)
    return plan(turn.finish(usage=usage), o)


def huge_start_step(ctx: RequestContext, o: Options) -> StreamPlan:
    """A ``start-step`` line of at least ``size`` bytes (default 300 KB): the echo carries the prompt."""
    size = o.get_int("size", 320_000)
    sentence = "You are Command Code, an AI coding agent working in the user's repository. "
    system = sentence * (size // len(sentence) + 1)
    prompt = [{"role": "system", "content": system}, *ctx.params["messages"]]
    body = {**json.loads(echo_json(ctx)), "prompt": prompt}
    turn = emit_answer(Turn(ctx).start(echo=body), o, default_answer(ctx)).finish()
    return plan(turn, o)


# ---------------------------------------------------------------------------------------------------
# Tool calls (§3.3 b, §6.3)


def tool_input(o: Options) -> dict[str, Any]:
    """The final tool input: the ``input`` parameter (an object, given in a dict spec) or a default."""
    value = o.params.get("input")
    return value if isinstance(value, dict) else {"file_path": "src/main.go"}


def tool_call(ctx: RequestContext, o: Options) -> StreamPlan:
    """Provisional ``tool-input-*`` args superseded by a *different* authoritative ``tool-call``.

    ``tool`` names the tool (default: the request's first), ``input`` (dict spec) its final input.
    """
    name, call_id = o.get_str("tool", first_tool(ctx)), tool_call_id(ctx.rng, 0)
    turn = Turn(ctx).start().reasoning(["I should read the file first."]).text(["Let me look at it."])
    turn.tool_input(call_id, name, input_fragments({"file_path": "src/wrong.go"}))
    turn.tool_call(call_id, name, tool_input(o))
    return plan(turn.finish("tool-calls", "tool_calls"), o)


def tool_call_final_only(ctx: RequestContext, o: Options) -> StreamPlan:
    name = o.get_str("tool", first_tool(ctx))
    turn = Turn(ctx).start().tool_call(tool_call_id(ctx.rng, 0), name, tool_input(o))
    return plan(turn.finish("tool-calls", "tool_calls"), o)


def parallel_tools(ctx: RequestContext, o: Options) -> StreamPlan:
    """``count`` (default 3) calls in order, ids ``call_00_…``, ``call_01_…``; tools used cyclically."""
    names = ctx.tool_names or ["read_file"]
    turn = Turn(ctx).start()
    for index in range(o.get_int("count", 3)):
        name, call_id = names[index % len(names)], tool_call_id(ctx.rng, index)
        tool_input = {"file_path": f"src/file{index}.go"}
        turn.tool_input(call_id, name, input_fragments(tool_input)).tool_call(call_id, name, tool_input)
    return plan(turn.finish("tool-calls", "tool_calls"), o)


def tool_input_without_call(ctx: RequestContext, o: Options) -> StreamPlan:
    """Streamed args never confirmed by a ``tool-call``: nothing may be executed."""
    turn = Turn(ctx).start()
    turn.tool_input(tool_call_id(ctx.rng, 0), first_tool(ctx), input_fragments({"file_path": "src/main.go"}))
    return plan(turn.finish("tool-calls", "tool_calls"), o)


def tool_input_string(ctx: RequestContext, o: Options) -> StreamPlan:
    """The rare ``tool-call`` whose ``input`` is a JSON *string*, not an object."""
    name, call_id = first_tool(ctx), tool_call_id(ctx.rng, 0)
    tool_input = {"file_path": "src/main.go"}
    turn = Turn(ctx).start().tool_input(call_id, name, input_fragments(tool_input))
    turn.tool_call(call_id, name, dumps(tool_input))
    return plan(turn.finish("tool-calls", "tool_calls"), o)


# ---------------------------------------------------------------------------------------------------
# Agent loops (real clients run the tool, send the result back and must get a final answer)

AGENT_COMMAND: Final = "echo ccgw-$((6*7))"  # prints ccgw-42 only if a shell really ran it


def _fill(schema: Any, text: str) -> Any:
    """A value for a JSON Schema: strings get ``text``, argv-style string arrays ``bash -lc text``."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return ["bash", "-lc", text] if items.get("type") == "string" else []
    if kind == "object":
        return {}
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    return text


def tool_arguments(tool: dict[str, Any], text: str) -> dict[str, Any]:
    """Arguments for every required parameter of ``tool`` (upstream ``input_schema``)."""
    schema = tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties)[:1]
    return {name: _fill(properties.get(name), text) for name in required}


def agent(ctx: RequestContext, o: Options) -> StreamPlan:
    """One turn of an agent loop: a call of the offered tool named ``tool`` (else the first one),
    its required arguments filled with ``text`` (default a shell command printing ``ccgw-42``)."""
    tools = [t for t in ctx.params.get("tools") or [] if isinstance(t, dict)]
    wanted = o.opt_str("tool")
    tool = next((t for t in tools if t.get("name") == wanted), tools[0] if tools else {"name": wanted or "bash"})
    turn = Turn(ctx).start()
    if o.get_bool("reasoning", False):
        turn.reasoning(["I will run the tool."])
    turn.tool_call(tool_call_id(ctx.rng, 0), tool["name"], tool_arguments(tool, o.get_str("text", AGENT_COMMAND)))
    return plan(turn.finish("tool-calls", "tool_calls"), o)


def tool_result_text(messages: Any) -> str:
    """The text of the tool results in the last message (a ``tool`` message)."""
    last = messages[-1] if isinstance(messages, list) and messages else {}
    values = []
    for part in last.get("content") or [] if isinstance(last, dict) else []:
        output = part.get("output") if isinstance(part, dict) else None
        if isinstance(output, dict):
            values.append(str(output.get("value", "")))
    return " ".join(" ".join(values).split())


def after_tool(ctx: RequestContext, o: Options) -> StreamPlan:
    """The answer once a tool result came back, so agent loops end: it quotes the result."""
    said = tool_result_text(ctx.params.get("messages"))[:400]
    turn = Turn(ctx).start().text(split_words(f"Tool result: {said}" if said else "Tool result: (empty)"))
    return plan(turn.finish(), o)


# ---------------------------------------------------------------------------------------------------
# Failures inside a 200 stream (§3.3 d, §6.4, §6.7)


def network_error_finish(ctx: RequestContext, o: Options) -> StreamPlan:
    """Looks like success — a ``finish`` — but ``rawFinishReason`` says the provider dropped."""
    turn = emit_answer(Turn(ctx).start(), o, "Partial answer")
    return plan(turn.finish(o.get_str("finish_reason", "stop"), "network-error"), o)


def truncated(ctx: RequestContext, o: Options) -> StreamPlan:
    """Text, then EOF with no ``finish``; ``abort=true`` also breaks the chunked HTTP body."""
    turn = Turn(ctx).start().text(answer_pieces(o, "This answer is cut"), end=False)
    return plan(turn, o, abort=o.get_bool("abort", False))


def inband_error(ctx: RequestContext, o: Options) -> StreamPlan:
    """Text, then an in-band error. ``pause=S``: the text goes out, and S seconds later more text
    and the error together, in one chunk (an error in the middle of a stream, after a client has
    had data, arriving in one network read with data before it)."""
    error = {
        "message": o.get_str("message", "providers are currently at capacity"),
        "statusCode": o.get_int("status", 429),
        "isRetryable": True,
    }
    turn = Turn(ctx).start().text(["partial"], end=False)
    split_at = len(turn.lines)
    pause = o.get_float("pause", 0.0)
    if pause:
        turn.text_deltas_only([" more"])
    turn.event({"type": "error", "error": error})
    return plan(turn, o, delay=pause, split_at=split_at) if pause else plan(turn, o)


def inband_error_prefix(ctx: RequestContext, o: Options) -> StreamPlan:
    """A ``"NNN {json}"`` message (the provider's error document behind its status) outranks
    ``statusCode``, as the CLI reads it (§11); ``status`` sets NNN (default 400)."""
    document = {"error": {"type": "invalid_request_error", "message": o.get_str("message", "bad request")}}
    error = {"message": f"{o.get_int('status', 400)} {dumps(document)}", "statusCode": 503, "isRetryable": False}
    return plan(Turn(ctx).start().event({"type": "error", "error": error}), o)


def pause_turn(ctx: RequestContext, o: Options) -> StreamPlan:
    """A turn the provider paused (raw finish ``pause_turn``): the CLI re-POSTs the same request and
    joins the answers (§11)."""
    turn = emit_answer(Turn(ctx).start(), o, "Paused part. ")
    return plan(turn.finish("other", "pause_turn"), o)


def inband_error_string(ctx: RequestContext, o: Options) -> StreamPlan:
    return plan(Turn(ctx).start().event({"type": "error", "error": "some string"}), o)


def stall(ctx: RequestContext, o: Options) -> StreamPlan:
    """``start``, then silence for ``delay`` seconds (default an hour), then EOF."""
    return StreamPlan(lines=[START], stall=o.get_float("delay", FOREVER), framing=o.framing)


def hang_headers(ctx: RequestContext, o: Options) -> StreamPlan:
    """Withholds the response headers for ``delay`` seconds (default an hour), then answers normally."""
    unpaced = Options({k: v for k, v in o.params.items() if k != "delay"}, o.default_framing)
    return replace(text(ctx, unpaced), header_delay=o.get_float("delay", FOREVER))


# ---------------------------------------------------------------------------------------------------
# Parser tolerance (§3.1, §3.2, §6.2, §6.4, §6.5)


def late_events(ctx: RequestContext, o: Options) -> StreamPlan:
    """After ``finish`` and ``provider-metadata``: a stray delta and a second ``finish`` to ignore."""
    turn = emit_answer(Turn(ctx).start(), o, default_answer(ctx)).finish()
    turn.raw(text_delta(" IGNORED"))
    turn.event({"type": "finish", "finishReason": "length", "rawFinishReason": "length", "totalUsage": {}})
    return plan(turn, o)


def malformed_line(ctx: RequestContext, o: Options) -> StreamPlan:
    pieces = answer_pieces(o, default_answer(ctx))
    turn = Turn(ctx).start().text(pieces[:1], end=False)
    turn.raw('{"type":"text-delta","id":"txt-0","text":"brok')
    turn.text_deltas_only(pieces[1:]).text_end()
    return plan(turn.finish(), o)


def unknown_events(ctx: RequestContext, o: Options) -> StreamPlan:
    """Event types a client must skip: ``response-metadata``, a future type, provider tool results."""
    turn = Turn(ctx).start()
    turn.event({"type": "response-metadata", "id": ctx.response_id, "timestamp": "x", "modelId": ctx.model})
    pieces = answer_pieces(o, default_answer(ctx))
    turn.text(pieces[:1], end=False).event({"type": "future-thing", "payload": {"answer": 42}})
    turn.text_deltas_only(pieces[1:]).text_end()
    result = {"type": "text", "value": "3 results"}
    turn.event({"type": "tool-result", "toolCallId": "ws_1", "toolName": "web_search", "output": result})
    turn.event({"type": "tool-error", "toolCallId": "ws_2", "toolName": "web_search", "error": "timeout"})
    return plan(turn.finish(), o)


def sse_framing(ctx: RequestContext, o: Options) -> StreamPlan:
    """``data:`` prefixes, ``:`` keep-alives, blank lines, ``data: [DONE]`` with no final newline."""
    return replace(text(ctx, o), framing="sse", trailing_newline=False)


def no_trailing_newline(ctx: RequestContext, o: Options) -> StreamPlan:
    return replace(text(ctx, o), trailing_newline=False)


DSML_BAR: Final = "｜"  # U+FF5C, as DeepSeek emits it
DSML_CALL: Final = (
    f"<{DSML_BAR}{DSML_BAR}DSML{DSML_BAR}{DSML_BAR}tool_calls>"
    '<invoke name="bash"><parameter name="command" string="true">ls -la</parameter></invoke>'
    f"</{DSML_BAR}{DSML_BAR}DSML{DSML_BAR}{DSML_BAR}tool_calls>"
)


def dsml_leak(ctx: RequestContext, o: Options) -> StreamPlan:
    """Chaos: a DeepSeek DSML tool-call envelope leaking as answer text, split across deltas."""
    pieces = ["I'll list the files.\n", DSML_CALL[:40], DSML_CALL[40:100], DSML_CALL[100:]]
    return plan(Turn(ctx).start().text(pieces).finish(), o)


# ---------------------------------------------------------------------------------------------------
# Pre-stream HTTP errors (§4)


def _fixed(error: Callable[[], HttpError]) -> Callable[[RequestContext, Options], Outcome]:
    return lambda _ctx, _o: error()


def http_403_not_in_plan(ctx: RequestContext, o: Options) -> HttpError:
    return errors.not_in_plan(ctx.model, ctx.plan)


def http_429(ctx: RequestContext, o: Options) -> HttpError:
    """``window=none``: a plain rate limit that names no plan window (a gateway need not block one)."""
    window = o.get_str("window", "fiveHour")
    if window == "none":
        return errors.plain_rate_limit(o.get_int("retry_after", 120))
    return errors.rate_limited(ctx.now, o.get_int("retry_after", 120), window)


def http_429_no_header(ctx: RequestContext, o: Options) -> HttpError:
    return errors.rate_limited(ctx.now, o.get_int("retry_after", 120), o.get_str("window", "fiveHour"), header=False)


def http_429_model(ctx: RequestContext, o: Options) -> HttpError:
    """A per-model daily limit: ``rateLimit.model`` (§11), final until its reset."""
    return errors.rate_limited(ctx.now, o.get_int("retry_after", 120), "daily", model=ctx.model)


def http_400_overflow(ctx: RequestContext, o: Options) -> HttpError:
    model = BY_ID.get(ctx.model)
    window = model.context_length if model else 131_072
    return errors.context_overflow(ctx.model, max(ctx.input_tokens, window + 1), window)


SCENARIOS: Final[dict[str, Callable[[RequestContext, Options], Outcome]]] = {
    "text": text,
    "echo": echo,
    "reasoning": reasoning,
    "tool_call": tool_call,
    "tool_call_final_only": tool_call_final_only,
    "parallel_tools": parallel_tools,
    "tool_input_without_call": tool_input_without_call,
    "tool_input_string": tool_input_string,
    "agent": agent,
    "after_tool": after_tool,
    "length": length,
    "network_error_finish": network_error_finish,
    "truncated": truncated,
    "inband_error": inband_error,
    "inband_error_prefix": inband_error_prefix,
    "inband_error_string": inband_error_string,
    "pause_turn": pause_turn,
    "stall": stall,
    "slow": slow,
    "zero_output": zero_output,
    "cache_write": cache_write,
    "late_events": late_events,
    "huge_start_step": huge_start_step,
    "malformed_line": malformed_line,
    "unknown_events": unknown_events,
    "sse_framing": sse_framing,
    "no_trailing_newline": no_trailing_newline,
    "dsml_leak": dsml_leak,
    "hang_headers": hang_headers,
    "http_401": _fixed(errors.unauthorized),
    "http_402": _fixed(errors.payment_required),
    "http_403_not_in_plan": http_403_not_in_plan,
    "http_403_upgrade": _fixed(errors.upgrade_required),
    "http_429": http_429,
    "http_429_no_header": http_429_no_header,
    "http_429_model": http_429_model,
    "http_400_overflow": http_400_overflow,
    "http_413": _fixed(errors.payload_too_large),
    "http_422_zdr": lambda ctx, _o: errors.zdr_no_providers(ctx.model),
    "http_500": _fixed(lambda: errors.server_error(500)),
    "http_502": _fixed(lambda: errors.server_error(502)),
    "http_503": _fixed(lambda: errors.server_error(503)),
    "http_529": _fixed(lambda: errors.server_error(529)),
    "http_400_root_message": _fixed(errors.root_message),
    "http_400_success_false": _fixed(errors.success_false),
    "http_400_text": _fixed(
        lambda: errors.plain_text("Invalid input: expected number, received undefined at max_tokens")
    ),
    "http_400_double_encoded": _fixed(errors.double_encoded),
    "http_credits_exhausted": _fixed(lambda: errors.credits_exhausted(403)),
    "http_400_insufficient_credits": _fixed(lambda: errors.credits_exhausted(400)),
    "http_spend_cap": _fixed(errors.spend_cap_exceeded),
    "http_premium_exhausted": _fixed(errors.premium_credits_exhausted),
}
SCENARIO_NAMES: Final = tuple(SCENARIOS)
