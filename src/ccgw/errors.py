"""One exception tree for every failure a client can see, rendered in the caller's protocol.

::

    GatewayError                     500  the base; never raised bare
    ├── InvalidRequestError          400  the request is malformed or asks for something impossible
    ├── AuthenticationError          401  missing or wrong local key
    ├── PaymentRequiredError         402  credits or a budget are exhausted
    ├── PermissionDeniedError        403  e.g. the model is not in the Command Code plan
    ├── NotFoundError                404  unknown model, route or request id
    ├── MethodNotAllowedError        405  a known route with the wrong method
    ├── PayloadTooLargeError         413  body or image over a cap
    ├── UnsupportedMediaTypeError    415  a body that is not application/json
    ├── UpgradeRequiredError         426  a WebSocket was asked for: ccgw speaks HTTP only
    ├── RateLimitError               429  a limit was hit; carries Retry-After
    ├── UpstreamError                502  Command Code failed, answered nonsense or cut the stream
    │   └── UpstreamKeyRejectedError 502  Command Code refused the gateway's own key
    ├── ServiceUnavailableError      503  no healthy account, or the server is full
    │   └── UpstreamKeyMissingError  503  no Command Code key configured (not worth retrying)
    └── UpstreamTimeoutError         504  Command Code went silent

Each class pins its HTTP status and its error type in each client protocol (OpenAI `type`, Anthropic
`error.type`, Google `status`). Where an error comes
from (the client, the upstream, a limit) is told by its message and `code`, not by the class.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

Protocol = Literal["openai", "anthropic", "google"]

_RPC = "type.googleapis.com/google.rpc."
# A Gemini API method at the end of a model path (`/v1/models/{model}:generateContent`): the google-genai
# SDK calls these under /v1 as well as /v1beta.
_GOOGLE_METHOD = re.compile(r"^/v1(beta)?/models/.+:(generateContent|streamGenerateContent|countTokens|embedContent)$")


class GatewayError(Exception):
    status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "server_error"
    anthropic_type: ClassVar[str] = "api_error"
    google_status: ClassVar[str] = "INTERNAL"
    default_code: ClassVar[str | None] = None
    recorded = False  # set once the ledger has this failure, so it is never recorded twice

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.retry_after = retry_after

    def retry_seconds(self) -> int | None:
        """The wait a client is told, in whole seconds (at least one)."""
        return None if self.retry_after is None else max(1, int(self.retry_after + 0.999))

    def headers(self) -> dict[str, str]:
        seconds = self.retry_seconds()
        return {} if seconds is None else {"Retry-After": str(seconds)}


class InvalidRequestError(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    google_status = "INVALID_ARGUMENT"


class AuthenticationError(GatewayError):
    status = 401
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"
    google_status = "UNAUTHENTICATED"
    default_code = "invalid_api_key"


class PaymentRequiredError(GatewayError):
    status = 402
    openai_type = "insufficient_quota"
    anthropic_type = "billing_error"
    google_status = "RESOURCE_EXHAUSTED"
    default_code = "insufficient_quota"


class PermissionDeniedError(GatewayError):
    status = 403
    openai_type = "permission_error"
    anthropic_type = "permission_error"
    google_status = "PERMISSION_DENIED"


class NotFoundError(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    google_status = "NOT_FOUND"
    default_code = "not_found"


class MethodNotAllowedError(GatewayError):
    status = 405
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    google_status = "UNIMPLEMENTED"
    default_code = "method_not_allowed"


class PayloadTooLargeError(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    google_status = "INVALID_ARGUMENT"
    default_code = "request_too_large"


class UnsupportedMediaTypeError(GatewayError):
    status = 415
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    google_status = "INVALID_ARGUMENT"
    default_code = "unsupported_media_type"


class UpgradeRequiredError(GatewayError):
    status = 426
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    google_status = "FAILED_PRECONDITION"
    default_code = "websocket_not_supported"


class RateLimitError(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    google_status = "RESOURCE_EXHAUSTED"
    default_code = "rate_limit_exceeded"
    window: str | None = None  # the upstream's window name (fiveHour, weekly, daily), when it said
    model: str | None = None  # the model whose own limit this is (`rateLimit.model`), when it said
    resets_in: float | None = None  # seconds until that window or model limit resets


class UpstreamError(GatewayError):
    status = 502
    openai_type = "upstream_error"
    anthropic_type = "api_error"
    google_status = "UNAVAILABLE"
    default_code = "upstream_error"


class UpstreamKeyRejectedError(UpstreamError):
    default_code = "upstream_key_rejected"


class ServiceUnavailableError(GatewayError):
    status = 503
    openai_type = "service_unavailable"
    anthropic_type = "overloaded_error"
    google_status = "UNAVAILABLE"
    default_code = "service_unavailable"


class UpstreamKeyMissingError(ServiceUnavailableError):
    """The gateway has no Command Code key: a retry cannot help, and nothing is overloaded."""

    anthropic_type = "api_error"
    default_code = "upstream_key_missing"

    def headers(self) -> dict[str, str]:
        # The OpenAI and Anthropic SDKs retry a 503 twice unless the answer says not to.
        return {**super().headers(), "x-should-retry": "false"}


class UpstreamTimeoutError(GatewayError):
    status = 504
    openai_type = "timeout"
    anthropic_type = "timeout_error"
    google_status = "DEADLINE_EXCEEDED"
    default_code = "upstream_timeout"


def error_body(exc: GatewayError, protocol: Protocol) -> dict[str, Any]:
    """The JSON error document for `protocol` (also used inside stream error frames)."""
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": exc.anthropic_type, "message": exc.message}}
    if protocol == "google":
        error = {"code": exc.status, "message": exc.message, "status": exc.google_status, "details": _details(exc)}
        return {"error": error}
    return {"error": {"message": exc.message, "type": exc.openai_type, "param": exc.param, "code": exc.code}}


def _details(exc: GatewayError) -> list[dict[str, Any]]:
    """google.rpc details: the code as an ErrorInfo reason, and the wait as a RetryInfo (Gemini CLI reads it)."""
    details: list[dict[str, Any]] = []
    if exc.code:
        details.append({"@type": _RPC + "ErrorInfo", "reason": exc.code.upper(), "domain": "ccgw"})
    seconds = exc.retry_seconds()
    if seconds is not None:
        details.append({"@type": _RPC + "RetryInfo", "retryDelay": f"{seconds}s"})
    return details


def protocol_for_path(path: str) -> Protocol:
    """Which dialect a route speaks: Anthropic under /v1/messages, Google under /v1beta and for Gemini
    methods (`…/models/{model}:generateContent`), OpenAI elsewhere.

    `GET /v1/models` is Google's only when the request authenticates the Google way: see
    `web.request_protocol`, which knows the request and not only its path.
    """
    if path.startswith(("/v1/messages", "/messages")):
        return "anthropic"
    if path.startswith("/v1beta/") or path == "/v1beta" or _GOOGLE_METHOD.match(path):
        return "google"
    return "openai"
