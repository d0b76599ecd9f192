"""The one place where Command Code failures become :mod:`ccgw.errors` exceptions.

Upstream error bodies come in several shapes (upstream-protocol.md §4.1): `{"error": {...}}`,
root-level `{"message", "code"}`, `{"success": false, "error": {...}}`, plain or status-prefixed
text, and JSON documents double-encoded inside `message`. In-band `error` events are read as the
CLI reads them (§11): the status of a `"NNN {json}"` message (when that JSON has `error.message`),
else `statusCode`.

The Provider API (§8) answers in its formats: OpenAI's `{"error": {message, type, code}}` and Anthropic's
`{"type": "error", "error": {type, message}}`, before the stream and inside it (:func:`from_provider_error`);
a Go plan's `upgrade_required` gets its own code, which moves the account to the CLI endpoint.

The refusals the CLI knows get their own codes: insufficient credits (which arrive as a 400), an
organisation's spend cap (`USAGE_EXCEEDED`), used-up premium credits, zero data retention with no
provider (`CMD_ZDR_NO_PROVIDERS`), and 429s that name a plan window or a per-model limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ccgw import errors
from ccgw.jsonutil import JSONDecodeError, loads

KEY_HELP = (
    "Set commandcode.api_key in config.yaml, or the COMMANDCODE_API_KEY environment variable, "
    "or log in with the Command Code CLI (`cmd login`) so ~/.commandcode/auth.json holds a key."
)

_CREDIT_MARKERS = (
    "insufficient_credits",
    "insufficient credits",
    "out of credit",
    "credits exhausted",
)
_PREMIUM_MARKERS = ("premium_credits_exhausted", "premium credits exhausted")
_ZDR_MARKERS = ("cmd_zdr_no_providers",)
_OVERFLOW = re.compile(r"context window|context length|prompt is too long|too many tokens", re.IGNORECASE)
_STATUS_PREFIX = re.compile(r"^\s*(\d{3})\s*\{")
_SECRETS = re.compile(r"\buser_[A-Za-z0-9_-]{4,}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_RESETS_AT = re.compile(r"resets? at (\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)", re.IGNORECASE)


def redact(text: str) -> str:
    """Upstream text with anything that looks like a key removed (errors sometimes quote the key)."""
    return _SECRETS.sub("[redacted]", text)


def _as_text(body: bytes) -> str:
    return body.decode("utf-8", "replace").strip()


def _error_fields(document: Any) -> tuple[str, str, Mapping[str, Any]]:
    """(message, code, rateLimit) from any of the known body shapes."""
    if not isinstance(document, Mapping):
        return (str(document) if document is not None else ""), "", {}
    inner = document.get("error", document)
    if isinstance(inner, str):
        return inner, str(document.get("code") or ""), {}
    if not isinstance(inner, Mapping):
        inner = document
    message = str(inner.get("message") or document.get("message") or "")
    code = str(inner.get("code") or inner.get("type") or document.get("code") or "")
    rate_limit = inner.get("rateLimit") or document.get("rateLimit") or {}
    nested = _try_json(message)
    if isinstance(nested, Mapping):  # a JSON error document inside `message`
        message, nested_code, nested_rate = _error_fields(nested)
        code, rate_limit = code or nested_code, rate_limit or nested_rate
    return message, code, rate_limit if isinstance(rate_limit, Mapping) else {}


def _try_json(text: str) -> Any:
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        return loads(text)
    except JSONDecodeError:
        return None


def parse_error_body(body: bytes) -> tuple[str, str, Mapping[str, Any]]:
    text = _as_text(body)
    document = _try_json(text)
    if document is None:
        # "<status> {json}" or bare prose.
        brace = text.find("{")
        document = _try_json(text[brace:]) if brace > 0 else None
    if document is None:
        return text, "", {}
    return _error_fields(document)


def retry_after_seconds(
    headers: Mapping[str, str], rate_limit: Mapping[str, Any], message: str, now: float | None = None
) -> float | None:
    """Seconds to wait, from Retry-After, then `rateLimit.reset`, then a "resets at" phrase."""
    now = time.time() if now is None else now
    header = headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(header).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = rate_limit.get("reset")
    if isinstance(reset, int | float) and reset > 0:
        reset_s = reset / 1000 if reset > 1e12 else float(reset)  # some sources use epoch ms
        return max(0.0, reset_s - now)
    found = _RESETS_AT.search(message)
    if found:
        try:
            return max(0.0, datetime.fromisoformat(found.group(1)).timestamp() - now)
        except ValueError:
            return None
    return None


def map_status(
    status: int,
    message: str,
    code: str = "",
    *,
    retry_after: float | None = None,
    window: str | None = None,
    model: str | None = None,
) -> errors.GatewayError:
    """Map an upstream status (HTTP or in-band) to the client-facing error."""
    message = redact(message)
    detail = message or f"HTTP {status}"
    lowered = f"{code} {message}".lower()
    if status == 401:
        return errors.UpstreamKeyRejectedError(
            f"Command Code rejected the gateway's API key (upstream 401: {detail}). {KEY_HELP}"
        )
    refusal = _known_refusal(lowered, detail, retry_after)
    if refusal is not None:
        return refusal
    if status == 402 or any(marker in lowered for marker in _CREDIT_MARKERS):
        return errors.PaymentRequiredError(
            f"Command Code credits are exhausted (upstream {status}: {detail})",
            code="insufficient_credits",
            retry_after=retry_after,
        )
    if status == 403:
        if "upgrade_required" in lowered:
            return errors.PermissionDeniedError(
                f"This Command Code account's plan has no Provider API access (upstream 403: {detail})",
                code="upgrade_required",
            )
        if "model_not_in_plan" in lowered:
            return errors.PermissionDeniedError(
                f"This model is not in your Command Code plan ({detail})", code="model_not_in_plan"
            )
        return errors.PermissionDeniedError(f"Command Code refused the request (upstream 403: {detail})")
    if status == 429:
        return _rate_limited(detail, retry_after, window, model)
    if status == 413:
        return errors.PayloadTooLargeError(f"Command Code refused the request as too large: {detail}")
    if status in (400, 409, 422) or (400 <= status < 500 and status != 404):
        if _OVERFLOW.search(message):
            return errors.InvalidRequestError(detail, code="context_length_exceeded")
        return errors.InvalidRequestError(f"Command Code rejected the request: {detail}", code="upstream_rejected")
    if status == 404:
        return errors.UpstreamError(
            f"Command Code answered 404 for the generate endpoint; check commandcode.base_url ({detail})"
        )
    return errors.UpstreamError(f"Command Code failed (upstream {status}: {detail})")


def _known_refusal(lowered: str, detail: str, retry_after: float | None) -> errors.GatewayError | None:
    """The refusals the CLI recognises by code or message, whatever the status they came with."""
    if "usage_exceeded" in lowered:
        return errors.PaymentRequiredError(
            f"Your Command Code organisation reached its spend limit ({detail})",
            code="spend_cap_exceeded",
            retry_after=retry_after,
        )
    if any(marker in lowered for marker in _PREMIUM_MARKERS):
        return errors.PaymentRequiredError(
            f"Your Command Code premium credits are used up ({detail})",
            code="premium_credits_exhausted",
            retry_after=retry_after,
        )
    if any(marker in lowered for marker in _ZDR_MARKERS):
        return errors.InvalidRequestError(
            "No zero-data-retention provider serves this model, and commandcode.zdr is on in the gateway's "
            f"config: choose another model, or set commandcode.zdr: false ({detail})",
            code="zdr_no_providers",
        )
    return None


def _rate_limited(detail: str, retry_after: float | None, window: str | None, model: str | None) -> errors.GatewayError:
    """A 429. One that names a plan window or a per-model limit is final until its reset (the CLI
    never retries it): the caller marks the window, or blocks the model on that account."""
    if model:
        message = f"Command Code's limit for {model} on this account is used up: {detail}"
        return _final_limit(message, "model_limit_exhausted", retry_after, model=model)
    if window:
        message = f"Your Command Code plan's {WINDOW_NAMES.get(window, window)} window is used up: {detail}"
        return _final_limit(message, "plan_window_exhausted", retry_after, window=window)
    return errors.RateLimitError(f"Command Code rate limit reached: {detail}", retry_after=retry_after)


def _final_limit(
    message: str, code: str, retry_after: float | None, *, model: str | None = None, window: str | None = None
) -> errors.RateLimitError:
    limited = errors.RateLimitError(message, code=code, retry_after=retry_after)
    limited.model, limited.window = model, window
    return limited


WINDOW_NAMES = {"fiveHour": "five-hour", "weekly": "weekly", "daily": "daily"}


def from_response(status: int, headers: Mapping[str, str], body: bytes) -> errors.GatewayError:
    message, code, rate_limit = parse_error_body(body)
    retry = retry_after_seconds(headers, rate_limit, message) if status in (402, 403, 429) else None
    window = rate_limit.get("window") if rate_limit.get("window") in WINDOW_NAMES else None  # the CLI's three
    if window is None and status == 429 and "usage limit for your plan" in message.lower():
        window = "weekly" if "weekly" in message.lower() else "fiveHour"  # the CLI's reading of the text
    model = rate_limit.get("model") if isinstance(rate_limit.get("model"), str) else None
    error = map_status(status, message, code, retry_after=retry, window=window, model=model)
    if isinstance(error, errors.RateLimitError) and (window or model):
        error.resets_in = _reset_in(rate_limit, message)
    return error


def _reset_in(rate_limit: Mapping[str, Any], message: str) -> float | None:
    """Seconds until the limit a 429 names resets (`rateLimit.reset`, else a "resets at" phrase),
    which outranks a shorter Retry-After for how long the window stays used up."""
    return retry_after_seconds({}, rate_limit, message)


def _inband_status(message: str, status_field: Any) -> tuple[int, str]:
    """The CLI's reading: `"NNN {json}"` with `error.message` gives NNN (and that message), else
    `statusCode`; ccgw's default is 502 (the CLI's is a retryable 500)."""
    prefix = _STATUS_PREFIX.match(message)
    if prefix:
        document = _try_json(message[prefix.end() - 1 :])
        inner = document.get("error") if isinstance(document, Mapping) else None
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            kind = inner.get("type")
            return int(prefix.group(1)), f"{kind}: {inner['message']}" if isinstance(kind, str) else inner["message"]
    if isinstance(status_field, int) and 400 <= status_field <= 599:
        return status_field, message
    return 502, message


def from_event(event: Mapping[str, Any]) -> errors.GatewayError:
    """An in-band `error` event (a string, or `{message, statusCode, isRetryable, code?}`)."""
    raw = event.get("error", event)
    if isinstance(raw, str):
        message, code, status_field = raw, "", None
    elif isinstance(raw, Mapping):
        message = str(raw.get("message") or event.get("message") or "upstream error")
        code = str(raw.get("code") or "")
        status_field = raw.get("statusCode")
    else:
        message, code, status_field = str(event.get("message") or "upstream error"), "", None
    status, message = _inband_status(message, status_field)
    error = map_status(status, message, code)
    if isinstance(error, errors.RateLimitError) and error.retry_after is None:
        error.retry_after = 5.0
    return error


# Error types of the Provider API's two formats (Anthropic's, and the OpenAI names that differ) → status.
_ERROR_TYPES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "api_error": 500,
    "server_error": 500,
    "overloaded_error": 529,
}


def from_provider_error(document: Mapping[str, Any]) -> errors.GatewayError:
    """An error frame inside a Provider API stream: OpenAI's `{"error": {message, type, code}}` (the
    code may be the status) or Anthropic's `{"type": "error", "error": {type, message}}`."""
    inner = document.get("error")
    if not isinstance(inner, Mapping):
        inner = {"message": str(inner or "upstream error")}
    message = str(inner.get("message") or "upstream error")
    kind, code = inner.get("type"), inner.get("code")
    numeric = code if isinstance(code, int) else None
    status, message = _inband_status(message, numeric or _ERROR_TYPES.get(str(kind), 502))
    error = map_status(status, message, str(code if isinstance(code, str) else kind or ""))
    if isinstance(error, errors.RateLimitError) and error.retry_after is None:
        error.retry_after = 5.0
    return error
