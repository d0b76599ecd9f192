"""OpenAI legacy completions request (`/v1/completions`) → upstream params (pure).

Editors use this endpoint for inline suggestions: a text prefix to continue, and with `suffix` (or a
prompt in a code model's fill-in-the-middle tokens, see `fim`) the text after the cursor. Command Code's
models are chat models, so the text becomes a user message and an instruction in the system prompt asks
for the continuation, or the middle, only. Each prompt of a
list is its own generation (`n` of them per prompt, choices ordered prompt by prompt, as OpenAI does).
What cannot be honoured is refused: `echo` (ccgw has no prompt tokens or logprobs to return), token-id
prompts (ccgw cannot tokenize for these models) and `best_of` above `n` (ccgw cannot rank candidates).
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.translate import common, fim
from ccgw.translate.chat_request import MAX_N
from ccgw.translate.common import Context, UpstreamRequest
from ccgw.translate.effort import upstream_effort
from ccgw.translate.stops import stop_sequences

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for this endpoint
MAX_STOPS = 64  # editors send a stop list per language and template; the gateway applies them itself
CONTINUE = (
    "You are a text completion engine. The user message is the beginning of a text. Reply with the text "
    "that comes right after it, exactly as it would appear there: do not repeat the beginning, and add no "
    "explanations, quotes or code fences."
)
FILL = (
    "You are a fill-in-the-middle completion engine. The user message holds the text before a gap, in "
    "<prefix>…</prefix>, and the text after it, in <suffix>…</suffix>. Reply with only the text that fills "
    "the gap, exactly as it would appear there: repeat neither side, and add no explanations, tags, quotes "
    "or code fences."
)
EMPTY_PROMPT = "(The text is empty: begin one.)"


def remote_image_urls(body: dict[str, Any]) -> list[str]:
    return []  # text only


def _prompts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return value
    if isinstance(value, list) and value and all(isinstance(p, int | list) for p in value):
        raise InvalidRequestError(
            "prompt: token-id prompts are not supported (ccgw cannot tokenize for Command Code's models); "
            "send the prompt as text",
            param="prompt",
        )
    raise InvalidRequestError("prompt: must be a string or a non-empty array of strings", param="prompt")


def _system(suffix: str | None) -> list[dict[str, Any]]:
    return common.system_blocks([(CONTINUE if suffix is None else FILL, False)])


def _gap(prompt: str, suffix: str | None) -> tuple[str, str | None]:
    """The text before the cursor and, for fill-in-the-middle, the text after it."""
    if suffix is None and (split := fim.split(prompt)) is not None:
        return split
    return prompt, suffix


def _user_text(prefix: str, suffix: str | None) -> str:
    if suffix is not None:
        return f"<prefix>{prefix}</prefix>\n<suffix>{suffix}</suffix>"
    return prefix or EMPTY_PROMPT


def _refuse_unsupported(body: dict[str, Any], n: int) -> None:
    if body.get("echo"):
        raise InvalidRequestError(
            "echo is not supported: ccgw cannot return the prompt's tokens (or their logprobs) for Command Code's "
            "models; leave echo out and prepend the prompt yourself",
            param="echo",
        )
    best_of = body.get("best_of")
    if best_of is not None and best_of not in (1, n):
        raise InvalidRequestError(
            "best_of is not supported above n: ccgw cannot rank candidates by likelihood; ask for n choices instead",
            param="best_of",
        )


def to_upstream(body: dict[str, Any], ctx: Context) -> UpstreamRequest:
    """Upstream params for each prompt × n; the first prompt's are `params` (usage and the thread seed)."""
    n = body.get("n") or 1
    _refuse_unsupported(body, n)
    prompts = _prompts(body.get("prompt"))
    if len(prompts) * n > MAX_N:
        raise InvalidRequestError(f"prompt, n: at most {MAX_N} completions per request (prompts × n)", param="n")
    base: dict[str, Any] = {
        "model": ctx.model,
        "tools": [],
        "max_tokens": common.clamp_max_tokens(body.get("max_tokens"), DEFAULT_MAX_TOKENS),
    }
    if body.get("temperature") is not None:  # never top_p: the CLI does not send it
        base["temperature"] = body["temperature"]
    # Suggestions must be quick: no reasoning effort unless the client asked for one.
    effort = upstream_effort(ctx.efforts, body.get("reasoning_effort"))
    if effort:
        base["reasoning_effort"] = effort
    gaps = [_gap(prompt, body.get("suffix") or None) for prompt in prompts]
    variants = [
        {
            **base,
            "system": _system(suffix),
            "messages": [{"role": "user", "content": [common.text_part(_user_text(prefix, suffix))]}],
        }
        for prefix, suffix in gaps
        for _ in range(n)
    ]
    options = body.get("stream_options")
    return UpstreamRequest(
        params=variants[0],
        stream=bool(body.get("stream")),
        n=len(variants),
        stop=stop_sequences(body.get("stop"), limit=MAX_STOPS),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        variants=tuple(variants) if len(prompts) > 1 else (),
    )
