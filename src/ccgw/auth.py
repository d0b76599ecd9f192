"""Local client keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request

from ccgw.config import LocalKey
from ccgw.errors import AuthenticationError

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling; usage is accounted under `name`."""

    name: str


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key") or None


class KeyRing:
    def __init__(self, keys: Iterable[LocalKey]) -> None:
        self._keys = [(k.name, k.key.encode()) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> Identity:
        """The identity for a presented key; raises :class:`AuthenticationError` otherwise."""
        if not self._keys:
            return Identity(ANONYMOUS)
        if not presented:
            raise AuthenticationError(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' with a key from config.yaml"
            )
        candidate = presented.encode()
        found: str | None = None
        for name, key in self._keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(candidate, key) and found is None:
                found = name
        if found is None:
            raise AuthenticationError("Invalid API key for this ccgw gateway (see api_key in config.yaml)")
        return Identity(found)
