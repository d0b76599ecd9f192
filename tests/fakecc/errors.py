"""Pre-stream HTTP error responses of the fake Command Code API (upstream-protocol.md §4.1, §4.2).

Every body shape the real upstream is known to produce is here: the common ``{"error":{…}}`` envelope,
root-level ``{"message","code"}``, ``{"success":false,"error":{…}}``, plain zod prose and a
double-encoded ``error.message``. Bodies are serialised once, when the error is built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .catalog import PLAN_IDS


@dataclass(frozen=True, slots=True)
class HttpError:
    status: int
    body: str
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def error_json(status: int, message: str, code: str | None = None, **extra: Any) -> HttpError:
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["code"] = code
    error.update(extra)
    return HttpError(status, json.dumps({"error": error}, separators=(",", ":")))


def unauthorized() -> HttpError:
    return error_json(401, "Invalid API key", "UNAUTHORIZED")


def payment_required() -> HttpError:
    return error_json(402, "Payment required: no credits left on this account", "PAYMENT_REQUIRED")


def credits_exhausted(status: int) -> HttpError:
    message = "Insufficient credits: your monthly credits are exhausted. Upgrade your plan or buy credits."
    return error_json(status, message, "INSUFFICIENT_CREDITS")


def not_in_plan(model: str, plan: str) -> HttpError:
    message = f"MODEL_NOT_IN_PLAN: {model} is not available on your plan ({PLAN_IDS[plan]}). Upgrade your plan."
    return error_json(403, message, "MODEL_NOT_IN_PLAN")


def upgrade_required() -> HttpError:
    message = "The Go plan is the only plan without API access; upgrade to GOAT or higher to use the Provider API."
    return error_json(403, message, "upgrade_required")


def cli_too_old(version: str, minimum: str) -> HttpError:
    message = f"Command Code CLI {version} is no longer supported; please update to {minimum} or later."
    return error_json(403, message, "CLI_VERSION_UNSUPPORTED")


def unknown_model(model: str, status: int) -> HttpError:
    return error_json(status, f"Model/provider not recognized: {model}", "MODEL_NOT_FOUND")


def rate_limited(
    now: float, retry_after: int, window: str, *, header: bool = True, model: str | None = None
) -> HttpError:
    """429 naming its window (`rateLimit.reset` in epoch seconds); with `model`, a per-model limit."""
    reset = int(now) + retry_after
    limit: dict[str, Any] = {"reset": reset, "window": window}
    if model is not None:
        limit["model"] = model
    message = f"daily limit for {model} reached" if model else f"usage limit for your plan ({window})"
    error = error_json(429, message, "RATE_LIMITED", rateLimit=limit)
    if not header:
        return error
    return HttpError(error.status, error.body, headers=(("retry-after", str(retry_after)),))


def spend_cap_exceeded() -> HttpError:
    """An organisation's spend limit (`USAGE_EXCEEDED`, §11)."""
    return error_json(403, "Your organization has reached its spend limit for this period.", "USAGE_EXCEEDED")


def premium_credits_exhausted() -> HttpError:
    message = "PREMIUM_CREDITS_EXHAUSTED: premium model requests for this period are used up."
    return error_json(403, message, "PREMIUM_CREDITS_EXHAUSTED")


def plain_rate_limit(retry_after: int) -> HttpError:
    error = error_json(429, "Too many requests, please retry shortly", "RATE_LIMITED")
    return HttpError(error.status, error.body, headers=(("retry-after", str(retry_after)),))


def zdr_no_providers(model: str) -> HttpError:
    message = f"No zero-data-retention provider is available for {model}"
    return error_json(422, message, "CMD_ZDR_NO_PROVIDERS", type="cmd_zdr_no_providers")


def bad_request(message: str, code: str = "BAD_REQUEST") -> HttpError:
    return error_json(400, message, code)


def context_overflow(model: str, input_tokens: int, context_length: int) -> HttpError:
    message = (
        f"This request ({input_tokens} tokens) exceeds the model's context window "
        f"of {context_length} tokens for {model}"
    )
    return bad_request(message, "CONTEXT_LENGTH_EXCEEDED")


def payload_too_large() -> HttpError:
    return error_json(413, "Payload Too Large")


def unsupported_media_type(content_type: str) -> HttpError:
    return error_json(415, f"Unsupported content-type {content_type!r}: expected application/json")


def server_error(status: int) -> HttpError:
    messages = {
        500: ("Internal Server Error", None),
        502: ("Bad Gateway", None),
        503: ("Service temporarily unavailable", "SERVICE_UNAVAILABLE"),
        529: ("Upstream model provider is temporarily overloaded", "OVERLOADED"),
    }
    message, code = messages[status]
    return error_json(status, message, code)


def root_message() -> HttpError:
    body = {"message": "Invalid request: messages must not be empty", "code": "BAD_REQUEST"}
    return HttpError(400, json.dumps(body, separators=(",", ":")))


def success_false() -> HttpError:
    body = {"success": False, "error": {"code": "BAD_REQUEST", "message": "Invalid request body"}}
    return HttpError(400, json.dumps(body, separators=(",", ":")))


def plain_text(message: str) -> HttpError:
    return HttpError(400, message, content_type="text/plain; charset=UTF-8")


def double_encoded() -> HttpError:
    inner = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages.1.content.0: unexpected `tool_use_id`",
        },
    }
    return error_json(400, json.dumps(inner, separators=(",", ":")))


def service_unavailable() -> HttpError:
    return server_error(503)
