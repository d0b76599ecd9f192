"""`/v1/embeddings`, forwarded to an OpenAI-compatible embeddings service when one is configured.

Command Code has no embedding models. Without `embeddings.base_url` the endpoint answers an honest 400
that says so; with it, the body goes to `{base_url}/embeddings` (the model name mapped through
`embeddings.models`) and the service's answer comes back as is. Its failures are mapped to the
gateway's errors in one place, :meth:`EmbeddingsForwarder._failure`; its key is never logged or echoed.
"""

from __future__ import annotations

from typing import Any

import httpx

from ccgw import errors
from ccgw.config import EmbeddingsSettings
from ccgw.jsonutil import JSONDecodeError, loads
from ccgw.upstream.events import Usage

MAX_ERROR_BODY = 64 * 1024
NOT_CONFIGURED = (
    "Command Code has no embedding models, so ccgw cannot create embeddings itself; set embeddings.base_url "
    "in config.yaml to forward /v1/embeddings to an OpenAI-compatible embeddings service (e.g. a local Ollama)"
)


def _message(body: bytes) -> str:
    """The service's own error message, from OpenAI's, Ollama's or a plain-text error body."""
    try:
        document = loads(body)
    except JSONDecodeError:
        return body.decode(errors="replace").strip()[:500] or "(no message)"
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or document)[:500]


class EmbeddingsForwarder:
    """Owns its own HTTP client: the embeddings service is not the Command Code upstream."""

    def __init__(self, settings: EmbeddingsSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(transport=transport, timeout=settings.timeout, follow_redirects=False)

    @property
    def enabled(self) -> bool:
        return self._settings.base_url is not None

    def model(self, requested: str) -> str:
        """The service's name for the model a client asked for."""
        return self._settings.models.get(requested, requested)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create(self, body: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
        """The service's embeddings document for `body`, and the tokens it reports."""
        if self._settings.base_url is None:
            raise errors.InvalidRequestError(NOT_CONFIGURED, code="embeddings_unavailable", param="model")
        headers = {"Authorization": f"Bearer {self._settings.api_key}"} if self._settings.api_key else {}
        url = self._settings.base_url + "/embeddings"
        try:
            response = await self._http.post(url, json={**body, "model": self.model(body["model"])}, headers=headers)
        except httpx.TimeoutException:
            raise errors.UpstreamTimeoutError(
                f"The embeddings service ({url}) did not answer within {self._settings.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise errors.UpstreamError(f"Cannot reach the embeddings service ({url}): {type(exc).__name__}") from None
        if response.status_code != 200:
            raise self._failure(response)
        try:
            document = loads(response.content)
        except JSONDecodeError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("data"), list):
            raise errors.UpstreamError("The embeddings service answered something that is not an embeddings list")
        usage = document.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return document, Usage(input_tokens=tokens if isinstance(tokens, int) and tokens > 0 else 0)

    def _failure(self, response: httpx.Response) -> errors.GatewayError:
        status = response.status_code
        message = f"The embeddings service answered HTTP {status}: {_message(response.content[:MAX_ERROR_BODY])}"
        if status in (401, 403):
            return errors.UpstreamError(
                f"The embeddings service refused ccgw's key (embeddings.api_key): HTTP {status}",
                code="embeddings_key_rejected",
            )
        if status == 404:
            return errors.NotFoundError(message, code="model_not_found", param="model")
        if status == 413:
            return errors.PayloadTooLargeError(message)
        if status == 429:
            retry = response.headers.get("retry-after", "")
            return errors.RateLimitError(message, retry_after=float(retry) if retry.isdigit() else None)
        if 400 <= status < 500:
            return errors.InvalidRequestError(message, code="embeddings_rejected")
        return errors.UpstreamError(message)
