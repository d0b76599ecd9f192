"""Local client keys: `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant time.

Google's clients send `x-goog-api-key: <key>` or `?key=<key>`; those count only on the Gemini routes
(and on `GET /v1/models`, which then answers in Google's format), so a key in a URL is never asked
for elsewhere. Nothing here logs a key or the query string that may carry one.

Keys are compared by their SHA-256, so a key stored only as a digest (`key_sha256`) works like one
stored as is. The ring re-reads the config file when it changes (checked at most once a second), so
`python app.py keys add/revoke` takes effect in a running gateway without a restart; whoever else
needs the new settings (the upstream accounts) gets them through `on_reload`.

With no key configured the ring fails closed: every request gets 401 saying how to add a key. Only
`allow_unauthenticated` (accepted only on a loopback address) opens it, and a reload can close it
again but never open it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import HTTPConnection

from ccgw.config import ConfigError, LocalKey, Settings, load_settings
from ccgw.errors import AuthenticationError, protocol_for_path

log = logging.getLogger("ccgw.auth")

ANONYMOUS = "anonymous"
RELOAD_CHECK_SECONDS = 1.0
NO_KEY_HELP = (
    "ccgw has no local API key configured, so it refuses every request. Add one with "
    "'python app.py keys add NAME' (or set api_key in config.yaml); a running gateway picks it up within a second"
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling; usage and limits are accounted under `name`."""

    name: str
    key: LocalKey | None = None

    @property
    def admin(self) -> bool:
        """May see every key's requests (a key marked `admin`, or anyone on an open gateway)."""
        return self.key is None or self.key.admin


def presented_key(request: HTTPConnection) -> str | None:
    if is_google_request(request):
        key = google_key(request)
        if key:
            return key
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key") or None


def google_key(request: HTTPConnection) -> str | None:
    """The key as Google's clients send it: `x-goog-api-key`, else the `key` query parameter."""
    return request.headers.get("x-goog-api-key") or request.query_params.get("key") or None


def is_google_request(request: HTTPConnection) -> bool:
    """A Gemini API request: a Google route, or `/v1/models[/…]` asked for with a Google-style key."""
    path: str = request.scope.get("path", "")  # not request.url: this runs on every request, and that costs
    if protocol_for_path(path) == "google":
        return True
    return (path == "/v1/models" or path.startswith("/v1/models/")) and google_key(request) is not None


class KeyRing:
    def __init__(
        self,
        keys: Iterable[LocalKey],
        *,
        config_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        allow_unauthenticated: bool = False,
        on_reload: Callable[[Settings], None] | None = None,
    ) -> None:
        self._set(keys)
        self._open = allow_unauthenticated
        self._on_reload = on_reload
        self._path = config_path
        self._clock = clock
        self._checked_at = clock()
        self._mtime = self._stat()

    def _set(self, keys: Iterable[LocalKey]) -> None:
        self._keys = [(k, bytes.fromhex(k.digest)) for k in keys]

    def _stat(self) -> float | None:
        try:
            return self._path.stat().st_mtime if self._path else None
        except OSError:
            return None

    def _reload_if_changed(self) -> None:
        now = self._clock()
        if self._path is None or now - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        self._checked_at = now
        mtime = self._stat()
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            settings, _ = load_settings(self._path, create=False)
        except ConfigError as exc:
            log.warning("config changed but cannot be read; keeping the previous keys: %s", exc)
            return
        self._set(settings.local_keys())
        self._open = self._open and settings.allow_unauthenticated
        log.info("local keys reloaded from %s (%d keys)", self._path, len(self._keys))
        if not self._keys and not self._open:
            log.warning("%s", NO_KEY_HELP)
        if self._on_reload is not None:
            self._on_reload(settings)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> Identity:
        """The identity for a presented key; raises :class:`AuthenticationError` otherwise."""
        self._reload_if_changed()
        if not self._keys:
            if self._open:
                return Identity(ANONYMOUS)
            raise AuthenticationError(NO_KEY_HELP, code="no_local_key")
        if not presented:
            raise AuthenticationError(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>' with a key from config.yaml"
                " (Gemini clients: 'x-goog-api-key: <key>')"
            )
        digest = hashlib.sha256(presented.encode()).digest()
        found: LocalKey | None = None
        for key, expected in self._keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(digest, expected) and found is None:
                found = key
        if found is None:
            raise AuthenticationError("Invalid API key for this ccgw gateway (see api_key in config.yaml)")
        return Identity(found.name, found)
