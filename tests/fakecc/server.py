"""The fake Command Code API as a Starlette app (upstream-protocol.md §1 endpoints, §2 admission,
§3 streaming).

``POST /alpha/generate`` admits a request the way the upstream does (auth, plan, body validation),
picks a scenario and streams it; the Provider API's model routes (``/provider/v1/chat/completions``,
``/provider/v1/messages``) admit theirs by §8's rules and stream the same scenarios in the OpenAI and
Anthropic formats (``provider_wire.py``) to keys whose plan has API access; the other ``/alpha/*`` and
``/provider/v1/*`` routes answer with captured shapes. ``/_fake/*`` routes let a test drive a fake running in another process (they are
neither recorded nor counted). The generate path stays cheap — no pydantic, constant headers built
once, one body chunk for short answers — because the fake is also the upstream of the gateway's
benchmark.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

import anyio
import anyio.lowlevel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import account, errors
from .catalog import API_PLANS, BY_ID, models_json, plan_includes
from .errors import HttpError
from .events import RequestContext, generation_id, response_id
from .framing import batches, frames
from .provider import api_key, provider_input_tokens, scenario_params
from .provider_checks import chat_model_error, check_chat, check_chat_reasoning, check_messages, messages_model_error
from .provider_wire import chat_frames, fold_chat, fold_messages, messages_frames
from .scenarios import Selection, StreamPlan, find_marker, last_user_text, parse_spec, run
from .state import FakeState, FakeStats
from .usage import (
    DEFAULT_PROMPT_BREAKDOWN,
    cache_read_for,
    cost_usd,
    input_tokens,
    system_is_empty,
    system_text,
)
from .validate import check_deepseek_reasoning, validate_generate

BEARER_RE: Final = re.compile(r"^Bearer (user_[A-Za-z0-9_-]+)$")
STREAM_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"access-control-allow-origin", b"*"),
    (b"x-powered-by", b"Hono"),
]


class EventStream(Response):
    """Streams a ``StreamPlan``; notices a client that goes away and stops (counted in ``stats``).

    Under uvicorn a send to a closed connection is silently dropped, so a disconnect is only visible
    through ``receive()``; a watcher task listens there whenever the stream is paced, stalls or spans
    several chunks. A short, unpaced answer goes out as a single body message.
    """

    def __init__(self, plan: StreamPlan, headers: list[tuple[bytes, bytes]], stats: FakeStats) -> None:
        self.status_code = 200
        self.background = None
        self.body = b""
        self.raw_headers = headers
        self.plan = plan
        self.stats = stats
        self.done = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan, stats = self.plan, self.stats
        framed = frames(plan.lines, plan.framing, plan.trailing_newline)
        if plan.split_at:
            chunks = ["".join(framed[: plan.split_at]).encode(), "".join(framed[plan.split_at :]).encode()]
        else:
            chunks = [f.encode() for f in framed] if plan.delay else batches(framed)
        stats.streams_started += 1
        stats.active_streams += 1
        try:
            if len(chunks) <= 1 and not (plan.stall or plan.header_delay or plan.abort):
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": chunks[0] if chunks else b""})
                self.done = True
            else:
                await self.send_watched(receive, send, chunks)
        finally:
            stats.active_streams -= 1
        if self.done:
            stats.streams_completed += 1
        else:
            stats.disconnects += 1

    async def send_watched(self, receive: Receive, send: Send, chunks: list[bytes]) -> None:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self.pace(send, chunks)
            self.done = True
            if not self.plan.abort:
                await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()

    async def pace(self, send: Send, chunks: list[bytes]) -> None:
        plan = self.plan
        if plan.header_delay:
            await anyio.sleep(plan.header_delay)
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for index, chunk in enumerate(chunks):
            if index and plan.delay:
                await anyio.sleep(plan.delay)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not plan.delay:
                await anyio.lowlevel.checkpoint()  # lets the watcher see a disconnect between chunks
        if plan.stall:
            await anyio.sleep(plan.stall)


# ---------------------------------------------------------------------------------------------------
# Small helpers


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, separators=(",", ":")), status, media_type="application/json")


def error_response(error: HttpError) -> Response:
    headers = {"x-powered-by": "Hono", **dict(error.headers)}
    return Response(error.body, error.status, headers=headers, media_type=error.content_type)


def headers_dict(request: Request) -> dict[str, str]:
    """Request headers, lower-cased; repeated headers joined with ``", "`` as on the wire."""
    out: dict[str, str] = {}
    for raw_key, raw_value in request.headers.raw:
        key, value = raw_key.decode("latin-1").lower(), raw_value.decode("latin-1")
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def bearer_key(headers: dict[str, str]) -> str | None:
    match = BEARER_RE.match(headers.get("authorization", ""))
    return match.group(1) if match else None


def is_json_content_type(value: str) -> bool:
    """``application/json``, possibly with parameters, possibly repeated (the CLI sends it twice)."""
    items = [item.split(";", 1)[0].strip().lower() for item in value.split(",")]
    return bool(value) and all(item == "application/json" for item in items)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def prompt_breakdown(body: dict[str, Any]) -> str:
    """``x-system-prompt-breakdown``: token sizes of the system prompt (the injected default when
    empty), memory and taste, each ``ceil(len / 4)``."""
    system = body["params"].get("system")
    size = DEFAULT_PROMPT_BREAKDOWN if system_is_empty(system) else math.ceil(len(system_text(system)) / 4)

    def sized(value: Any) -> int:
        return math.ceil(len(value) / 4) if isinstance(value, str) else 0

    return f'{{"systemPrompt":{size},"memory":{sized(body.get("memory"))},"taste":{sized(body.get("taste"))}}}'


# ---------------------------------------------------------------------------------------------------
# The app


class FakeApi:
    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.models_body = models_json()
        self.initial_config = state.config_json()

    def record(self, request: Request, headers: dict[str, str], body: Any) -> None:
        scope = request.scope
        self.state.record(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, body)

    async def recorded_json(self, request: Request) -> tuple[dict[str, str], Any]:
        headers = headers_dict(request)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.record(request, headers, body)
        return headers, body

    def authorise(self, headers: dict[str, str]) -> HttpError | None:
        key = bearer_key(headers)
        if key is None or key in self.state.revoked_keys:
            return errors.unauthorized()
        return None

    # -- /alpha/generate -------------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        state = self.state
        state.stats.generate_calls += 1
        headers = headers_dict(request)
        if int(headers.get("content-length") or 0) > state.max_body_bytes:
            self.record(request, headers, None)
            return error_response(errors.payload_too_large())
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
            parsed = True
        except ValueError:
            body, parsed = raw.decode("utf-8", "replace"), False
        self.record(request, headers, body)
        error = self.admit(headers, body, parsed, len(raw))
        if error is not None:
            state.stats.turns_failed += 1
            return error_response(error)
        return self.answer(body, headers, bearer_key(headers))

    def admit(self, headers: dict[str, str], body: Any, parsed: bool, size: int) -> HttpError | None:
        """The upstream's refusals, in the order it applies them; None when the request may stream."""
        state = self.state
        key = bearer_key(headers)
        if key is None or key in state.revoked_keys:
            return errors.unauthorized()
        if state.min_cli_version is not None:
            version = headers.get("x-command-code-version", "0")
            if version_tuple(version) < version_tuple(state.min_cli_version):
                return errors.cli_too_old(version, state.min_cli_version)
        if (spent := self.spent(key)) is not None:
            return spent
        if size > state.max_body_bytes:
            return errors.payload_too_large()
        content_type = headers.get("content-type", "")
        if not is_json_content_type(content_type):
            return errors.unsupported_media_type(content_type)
        if not parsed:
            return errors.bad_request("Malformed JSON in request body")
        invalid = validate_generate(body, require_max_tokens=state.require_max_tokens)
        if invalid is not None:
            return invalid
        return self.admit_model(body["params"], headers, key)

    def spent(self, key: str) -> HttpError | None:
        """The account's credits, then its plan's windows: 402, or a 429 until the window resets."""
        state = self.state
        if key in state.exhausted_keys:
            return errors.credits_exhausted(402)
        window = account.exceeded_window(state)
        if window is None:
            return None
        retry_after = max(1, (state.reset_at_ms(window) - int(time.time() * 1000)) // 1000)
        return errors.rate_limited(time.time(), retry_after, window)

    def admit_model(self, params: dict[str, Any], headers: dict[str, str], key: str) -> HttpError | None:
        state = self.state
        model = BY_ID.get(params["model"])
        if model is None:
            return errors.unknown_model(params["model"], state.unknown_model_status)
        if not plan_includes(state.plan_of(key), model):
            return errors.not_in_plan(model.id, state.plan_of(key))
        if state.strict_deepseek and (refusal := check_deepseek_reasoning(params)) is not None:
            return refusal
        if headers.get("x-cmd-zdr") == "1":
            return errors.zdr_no_providers(model.id)
        return None

    def select(self, last_text: str, messages: Any = None) -> Selection:
        """A queued script first; a conversation that ends with a tool result is answered in text
        (so agent loops end); else the marker in the last user text, else the default."""
        state = self.state
        if state.script:
            return parse_spec(state.script.popleft())
        last = messages[-1] if isinstance(messages, list) and messages else None
        if isinstance(last, dict) and last.get("role") == "tool":
            return Selection("after_tool")
        if "fake:" in last_text and (marked := find_marker(last_text)) is not None:
            return marked
        return parse_spec(state.default_scenario)

    def context(self, params: dict[str, Any], tokens: int, key: str | None) -> RequestContext:
        rng = self.state.rng
        return RequestContext(
            model=params["model"],
            params=params,
            input_tokens=tokens,
            cache_read=cache_read_for(tokens, self.state.cache_read_tokens),
            last_user_text=last_user_text(params["messages"]),
            rng=rng,
            now=time.time(),
            generation_id=generation_id(rng),
            response_id=response_id(rng),
            plan=self.state.plan_of(key),
        )

    def play(self, ctx: RequestContext) -> StreamPlan | Response:
        """The scenario for `ctx`, or the error response that ends the request."""
        state = self.state
        try:
            outcome = run(self.select(ctx.last_user_text, ctx.params["messages"]), ctx, state.default_framing)
        except (ValueError, KeyError) as exc:
            state.stats.turns_failed += 1
            return error_response(errors.error_json(500, f"fakecc: {exc}", "FAKECC_BAD_SCENARIO"))
        if isinstance(outcome, HttpError):
            state.stats.turns_failed += 1
            return error_response(outcome)
        self.account_turn(outcome)
        return outcome

    def answer(self, body: dict[str, Any], headers: dict[str, str], key: str | None) -> Response:
        params = body["params"]
        ctx = self.context(params, input_tokens(params), key)
        outcome = self.play(ctx)
        if isinstance(outcome, Response):
            return outcome
        rng = self.state.rng
        stream_headers = [
            *STREAM_HEADERS,
            (b"x-trace-id", f"{rng.getrandbits(128):032x}".encode()),
            (b"x-system-prompt-breakdown", prompt_breakdown(body).encode()),
        ]
        return EventStream(outcome, stream_headers, self.state.stats)

    # -- /provider/v1/chat/completions and /provider/v1/messages -----------------------------------

    async def provider_chat(self, request: Request) -> Response:
        return await self.provider(request, "chat")

    async def provider_messages(self, request: Request) -> Response:
        return await self.provider(request, "messages")

    async def provider(self, request: Request, endpoint: str) -> Response:
        state = self.state
        state.stats.provider_calls += 1
        headers, body = await self.recorded_json(request)
        key = api_key(headers)
        error = self.admit_provider(endpoint, headers, body, key)
        if error is not None:
            state.stats.turns_failed += 1
            return error_response(error)
        ctx = self.context(scenario_params(endpoint, body), provider_input_tokens(body), key)
        outcome = self.play(ctx)
        if isinstance(outcome, Response):
            return outcome
        rid = f"{state.rng.getrandbits(96):024x}"
        if endpoint == "chat":
            options = body.get("stream_options") or {}
            lines = chat_frames(
                outcome.lines, ctx.model, f"chatcmpl-{rid}", int(ctx.now), bool(options.get("include_usage"))
            )
            folded = fold_chat(lines)
        else:
            lines = messages_frames(outcome.lines, ctx.model, f"msg_{rid}", outcome.usage)
            folded = fold_messages(lines)
        if body.get("stream"):
            return EventStream(replace(outcome, lines=lines, framing="raw"), STREAM_HEADERS, state.stats)
        if folded is None:
            return error_response(errors.error_json(502, "The model provider failed", "upstream_error"))
        return json_response(folded)

    def admit_provider(self, endpoint: str, headers: dict[str, str], body: Any, key: str | None) -> HttpError | None:
        """§8, in the order the upstream applies it: the key, the plan (Go: `upgrade_required` on every
        request), the schema, the endpoint's models, the plan's models, the model's own rules."""
        state = self.state
        if key is None or key in state.revoked_keys:
            return errors.unauthorized()
        plan = state.plan_of(key)
        if plan not in API_PLANS:
            return errors.upgrade_required()
        if (spent := self.spent(key)) is not None:
            return spent
        if endpoint == "chat":
            invalid = check_chat(body)
            if invalid is not None:
                return invalid
            model = BY_ID.get(body["model"])
            refusal = chat_model_error(model, body["model"])
        else:
            if not isinstance(body, dict) or not isinstance(body.get("model"), str):
                return errors.bad_request("model: Field required")
            model = BY_ID.get(body["model"])
            refusal = messages_model_error(model, body["model"])
        if refusal is not None or model is None:
            return refusal
        if not plan_includes(plan, model):
            return errors.not_in_plan(model.id, plan)
        if endpoint == "chat":
            refusal = check_chat_reasoning(body) if state.strict_deepseek else None
        else:
            refusal = check_messages(body, model)
        if refusal is None and headers.get("x-cmd-zdr") == "1":
            return errors.zdr_no_providers(model.id)
        return refusal

    def account_turn(self, plan: StreamPlan) -> None:
        stats = self.state.stats
        if plan.usage is None:
            stats.turns_failed += 1
            return
        stats.turns_completed += 1
        stats.tokens_in += plan.usage["inputTokens"]
        stats.tokens_out += plan.usage["outputTokens"]
        stats.cost_usd += cost_usd(plan.usage["inputTokens"], plan.usage["outputTokens"])

    # -- catalog, account, telemetry ---------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        await self.recorded_json(request)
        if self.state.models_down:
            return error_response(errors.service_unavailable())
        return Response(self.models_body, media_type="application/json")

    async def credits(self, request: Request) -> Response:
        headers, _ = await self.recorded_json(request)
        if (error := self.authorise(headers)) is not None:
            return error_response(error)
        if self.state.billing_down:
            return error_response(errors.service_unavailable())
        return json_response(account.credits(self.state, request.query_params.get("orgId")))

    async def subscriptions(self, request: Request) -> Response:
        return await self.account_route(request, lambda state: account.subscription(state, self.key_of(request)))

    @staticmethod
    def key_of(request: Request) -> str | None:
        return bearer_key(headers_dict(request))

    async def whoami(self, request: Request) -> Response:
        limits = request.query_params.get("limits") == "1"
        return await self.account_route(request, lambda state: account.whoami(state, limits))

    async def usage_summary(self, request: Request) -> Response:
        return await self.account_route(request, account.usage_summary)

    async def account_route(self, request: Request, build: Callable[[FakeState], dict[str, Any]]) -> Response:
        headers, _ = await self.recorded_json(request)
        if (error := self.authorise(headers)) is not None:
            return error_response(error)
        return json_response(build(self.state))

    async def fingerprint(self, request: Request) -> Response:
        await self.recorded_json(request)
        return json_response({"success": True})

    async def lifecycle(self, request: Request) -> Response:
        await self.recorded_json(request)
        return json_response({"tracked": True})

    async def provider_responses(self, request: Request) -> Response:
        headers, _ = await self.recorded_json(request)
        if (error := self.authorise(headers)) is not None:
            return error_response(error)
        if self.state.plan_of(bearer_key(headers)) not in API_PLANS:
            return error_response(errors.upgrade_required())
        return error_response(
            errors.error_json(501, "fakecc does not implement /provider/v1/responses", "not_implemented")
        )

    # -- /_fake control ----------------------------------------------------------------------------

    async def control_script(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.script.clear()
            return json_response({"queued": 0})
        try:
            specs = list((await request.json())["scenarios"])
            for spec in specs:
                parse_spec(spec)
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"error": f"bad script: {exc}"}, 400)
        self.state.script.extend(specs)
        return json_response({"queued": len(self.state.script)})

    async def control_state(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.state.patch(dict(await request.json()))
            except (ValueError, TypeError) as exc:
                return json_response({"error": f"bad state patch: {exc}"}, 400)
        return json_response(self.state.config_json())

    async def control_requests(self, request: Request) -> Response:
        log = self.state.requests
        if request.method == "DELETE":
            cleared = len(log)
            log.clear()
            return json_response({"cleared": cleared})
        path = request.query_params.get("path")
        return json_response({"requests": [r.to_json() for r in log if path is None or r.path == path]})

    async def control_stats(self, request: Request) -> Response:
        return json_response({**self.state.stats.to_json(), "queued_scenarios": len(self.state.script)})

    async def control_reset(self, request: Request) -> Response:
        """Back to the configuration the app was created with; clears queue, log and counters."""
        state = self.state
        state.script.clear()
        state.requests.clear()
        state.stats = FakeStats()
        state.patch(self.initial_config)
        return json_response(state.config_json())

    def routes(self) -> list[Route]:
        return [
            Route("/alpha/generate", self.generate, methods=["POST"]),
            Route("/provider/v1/models", self.models, methods=["GET"]),
            Route("/alpha/billing/credits", self.credits, methods=["GET"]),
            Route("/alpha/billing/subscriptions", self.subscriptions, methods=["GET"]),
            Route("/alpha/whoami", self.whoami, methods=["GET"]),
            Route("/alpha/usage/summary", self.usage_summary, methods=["GET"]),
            Route("/alpha/fingerprint/record", self.fingerprint, methods=["POST"]),
            Route("/alpha/lifecycle-events", self.lifecycle, methods=["POST"]),
            Route("/provider/v1/chat/completions", self.provider_chat, methods=["POST"]),
            Route("/provider/v1/messages", self.provider_messages, methods=["POST"]),
            Route("/provider/v1/responses", self.provider_responses, methods=["POST"]),
            Route("/_fake/script", self.control_script, methods=["POST", "DELETE"]),
            Route("/_fake/state", self.control_state, methods=["GET", "POST"]),
            Route("/_fake/requests", self.control_requests, methods=["GET", "DELETE"]),
            Route("/_fake/stats", self.control_stats, methods=["GET"]),
            Route("/_fake/reset", self.control_reset, methods=["POST"]),
        ]


def create_fake_app(state: FakeState | None = None) -> Starlette:
    """A fresh fake upstream; ``app.state.fake`` is the ``FakeState`` it serves from."""
    state = state if state is not None else FakeState()
    app = Starlette(routes=FakeApi(state).routes())
    app.state.fake = state
    return app
