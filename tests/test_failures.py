"""Upstream error bodies and statuses → the client-facing error tree (upstream-protocol.md §4)."""

from __future__ import annotations

import pytest

from ccgw import errors
from ccgw.upstream.failures import from_response, parse_error_body, retry_after_seconds


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (b'{"error":{"message":"m1","code":"C1"}}', "m1", "C1"),
        (b'{"message":"m2","code":"C2"}', "m2", "C2"),
        (b'{"success":false,"error":{"code":"C3","message":"m3"}}', "m3", "C3"),
        (b"Too big: expected number to be <=200000", "Too big: expected number to be <=200000", ""),
        (b'400 {"error":{"message":"m5"}}', "m5", ""),
        (b'{"error":{"message":"{\\"error\\":{\\"message\\":\\"inner\\",\\"code\\":\\"X\\"}}"}}', "inner", "X"),
        (b'{"error":"plain string"}', "plain string", ""),
    ],
    ids=["nested", "root", "success-false", "prose", "status-prefixed", "double-encoded", "string"],
)
def test_parse_error_body_every_known_shape(body: bytes, message: str, code: str) -> None:
    got_message, got_code, _ = parse_error_body(body)
    assert (got_message, got_code) == (message, code)


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (400, b'{"error":{"message":"bad"}}', errors.InvalidRequestError, "upstream_rejected"),
        (422, b'{"error":{"message":"cmd_zdr_no_providers"}}', errors.InvalidRequestError, "zdr_no_providers"),
        (
            400,
            b'{"error":{"message":"input exceeds the model\'s context window"}}',
            errors.InvalidRequestError,
            "context_length_exceeded",
        ),
        (401, b'{"error":{"message":"invalid api key"}}', errors.UpstreamKeyRejectedError, "upstream_key_rejected"),
        (402, b"{}", errors.PaymentRequiredError, "insufficient_credits"),
        (
            403,
            b'{"error":{"code":"INSUFFICIENT_CREDITS","message":"no"}}',
            errors.PaymentRequiredError,
            "insufficient_credits",
        ),
        (403, b'{"error":{"message":"MODEL_NOT_IN_PLAN: x"}}', errors.PermissionDeniedError, "model_not_in_plan"),
        (413, b"", errors.PayloadTooLargeError, "request_too_large"),
        (429, b'{"error":{"message":"slow down"}}', errors.RateLimitError, "rate_limit_exceeded"),
        (500, b"", errors.UpstreamError, "upstream_error"),
        (529, b"overloaded", errors.UpstreamError, "upstream_error"),
    ],
)
def test_from_response_status_table(status: int, body: bytes, cls: type[errors.GatewayError], code: str) -> None:
    error = from_response(status, {}, body)
    assert type(error) is cls
    assert error.code == code


def test_upstream_401_tells_user_to_fix_gateway_key() -> None:
    error = from_response(401, {}, b'{"error":{"message":"invalid api key"}}')
    assert error.status == 502
    assert "COMMANDCODE_API_KEY" in error.message and "commandcode.api_key" in error.message


def test_retry_after_from_header_reset_and_phrase() -> None:
    assert retry_after_seconds({"retry-after": "42"}, {}, "", now=0) == 42
    now = 1_788_120_000
    assert retry_after_seconds({}, {"reset": now + 120}, "", now=now) == 120
    assert retry_after_seconds({}, {"reset": (now + 120) * 1000}, "", now=now) == 120  # epoch ms
    got = retry_after_seconds({}, {}, "limit resets at 2026-01-01T00:01:00Z", now=1767225600)
    assert got == 60


def test_429_carries_retry_after_header() -> None:
    error = from_response(
        429, {}, b'{"error":{"message":"usage limit","rateLimit":{"reset":99999999999,"window":"fiveHour"}}}'
    )
    assert error.retry_after is not None and error.retry_after > 0
    assert "five-hour window" in error.message
    assert error.code == "plan_window_exhausted" and error.window == "fiveHour"
    assert "Retry-After" in error.headers()


@pytest.mark.parametrize(
    ("status", "body", "status_out", "code"),
    [
        (400, b'{"error":{"message":"Insufficient credits to run this model"}}', 402, "insufficient_credits"),
        (403, b'{"error":{"code":"USAGE_EXCEEDED","message":"org limit"}}', 402, "spend_cap_exceeded"),
        (403, b'{"error":{"message":"PREMIUM_CREDITS_EXHAUSTED: none left"}}', 402, "premium_credits_exhausted"),
        (422, b'{"error":{"code":"CMD_ZDR_NO_PROVIDERS","message":"none"}}', 400, "zdr_no_providers"),
        (422, b'{"error":{"type":"cmd_zdr_no_providers","message":"none"}}', 400, "zdr_no_providers"),
    ],
)
def test_from_response_refusals_the_cli_knows(status: int, body: bytes, status_out: int, code: str) -> None:
    error = from_response(status, {}, body)
    assert (error.status, error.code) == (status_out, code)
    if code == "zdr_no_providers":
        assert "commandcode.zdr" in error.message


def test_from_response_429_naming_a_model_limit() -> None:
    body = b'{"error":{"message":"daily","rateLimit":{"reset":99999999999,"window":"daily","model":"m/x"}}}'
    error = from_response(429, {"retry-after": "30"}, body)
    assert isinstance(error, errors.RateLimitError)
    assert (error.code, error.model, error.retry_after) == ("model_limit_exhausted", "m/x", 30)
    assert error.resets_in is not None and error.resets_in > 3600


def test_transport_errors_timeout_only_when_caused_by_one() -> None:
    import httpx

    from ccgw.upstream.client import transport_error

    refused = httpx.ConnectTimeout("refused")
    refused.__cause__ = ConnectionRefusedError("refused")
    assert transport_error(refused).status == 502
    import aiohttp

    dropped = httpx.ConnectTimeout("dropped")
    dropped.__cause__ = aiohttp.ServerDisconnectedError()
    assert transport_error(dropped).status == 502
    slow = httpx.ReadTimeout("slow")
    slow.__cause__ = TimeoutError()
    assert transport_error(slow).status == 504
    assert transport_error(httpx.ReadTimeout("slow")).status == 504
    assert transport_error(httpx.ConnectError("refused")).status == 502
