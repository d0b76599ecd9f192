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
    ├── RateLimitError               429  a limit was hit; carries Retry-After
    ├── UpstreamError                502  Command Code failed, answered nonsense or cut the stream
    │   └── UpstreamKeyRejectedError 502  Command Code refused the gateway's own key
    ├── ServiceUnavailableError      503  no healthy account, or the server is full
    │   └── UpstreamKeyMissingError  503  no Command Code key configured (not worth retrying)
    └── UpstreamTimeoutError         504  Command Code went silent

Each class pins its HTTP status and its error type in each client protocol. Where an error comes
from (the client, the upstream, a limit) is told by its message and `code`, not by the class.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Protocol = Literal["openai", "anthropic"]


class GatewayError(Exception):
    status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "server_error"
    anthropic_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

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

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, int(self.retry_after + 0.999)))}


class InvalidRequestError(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class AuthenticationError(GatewayError):
    status = 401
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"
    default_code = "invalid_api_key"


class PaymentRequiredError(GatewayError):
    status = 402
    openai_type = "insufficient_quota"
    anthropic_type = "billing_error"
    default_code = "insufficient_quota"


class PermissionDeniedError(GatewayError):
    status = 403
    openai_type = "permission_error"
    anthropic_type = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    default_code = "not_found"


class MethodNotAllowedError(GatewayError):
    status = 405
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLargeError(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    default_code = "request_too_large"


class UnsupportedMediaTypeError(GatewayError):
    status = 415
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "unsupported_media_type"


class RateLimitError(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    window: str | None = None  # the upstream's window name (fiveHour, weekly), when it said


class UpstreamError(GatewayError):
    status = 502
    openai_type = "upstream_error"
    anthropic_type = "api_error"
    default_code = "upstream_error"


class UpstreamKeyRejectedError(UpstreamError):
    default_code = "upstream_key_rejected"


class ServiceUnavailableError(GatewayError):
    status = 503
    openai_type = "service_unavailable"
    anthropic_type = "overloaded_error"
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
    default_code = "upstream_timeout"


def error_body(exc: GatewayError, protocol: Protocol) -> dict[str, Any]:
    """The JSON error document for `protocol` (also used inside stream error frames)."""
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": exc.anthropic_type, "message": exc.message}}
    return {"error": {"message": exc.message, "type": exc.openai_type, "param": exc.param, "code": exc.code}}


def protocol_for_path(path: str) -> Protocol:
    """Which dialect a route speaks: Anthropic under /v1/messages, OpenAI elsewhere."""
    return "anthropic" if path.startswith(("/v1/messages", "/messages")) else "openai"
