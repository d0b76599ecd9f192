"""What web pages and other machines may do: the `Host` check, CORS origins and the pages' CSP.

Every page the user visits can send requests to `localhost`. Three rules keep them out:

* **Host check.** A request whose `Host` is not this machine's name (`localhost`, a loopback
  address, the address ccgw listens on, or an `allowed_hosts` entry) gets 403: a DNS-rebinding page
  (`evil.example` resolving to 127.0.0.1) sends its own name, so it cannot read the answers.
* **CORS** answers only the origins in `cors_origins` (default: pages served from this machine).
* **JSON only.** A POST body must be `application/json`, which a browser cannot send to another
  origin without a preflight (see :func:`ccgw.web.read_json`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from ccgw import errors
from ccgw.config import Settings, is_loopback

# For every HTML page: nothing may frame it (clickjacking), and it loads nothing from elsewhere.
FRAME_ANCESTORS = "frame-ancestors 'none'"
HTML_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _name(host: str) -> str:
    """The host part of a `Host` header value, lower case ("[::1]:8080" → "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostCheck:
    """Which `Host` header values this gateway answers (decided once per distinct value)."""

    def __init__(self, bind_host: str, allowed: Iterable[str]) -> None:
        entries = [a.strip().lower() for a in allowed]
        self.any = "*" in entries
        self._exact = {_name(e) for e in entries if not e.startswith("*.")}
        if not _unspecified(bind_host):  # "0.0.0.0" is where ccgw listens, never a name to ask for
            self._exact.add(_name(bind_host))
        self._suffixes = tuple(e[1:] for e in entries if e.startswith("*."))
        self._seen: dict[bytes, bool] = {}

    def allows(self, header: bytes | None) -> bool:
        if self.any or header is None:  # no Host at all: not a browser (HTTP/1.0 tools)
            return True
        known = self._seen.get(header)
        if known is None:
            known = self._decide(header.decode("latin-1"))
            if len(self._seen) < 1024:
                self._seen[header] = known
        return known

    def _decide(self, header: str) -> bool:
        name = _name(header)
        if name in self._exact or is_loopback(name):
            return True
        return any(name.endswith(suffix) for suffix in self._suffixes)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(_name(host)).is_unspecified
    except ValueError:
        return False


def host_refusal(header: bytes | None) -> errors.PermissionDeniedError:
    shown = (header or b"").decode("latin-1")[:100]
    return errors.PermissionDeniedError(
        f"Host {shown!r} is not this machine: ccgw answers localhost and loopback addresses; "
        "add the name to allowed_hosts in config.yaml to serve it (e.g. behind a tunnel or on a LAN)",
        code="host_not_allowed",
    )


def origin_pattern(origins: Iterable[str]) -> str | None:
    """One regex for the configured origins; `*` in an entry matches any run of characters
    (`http://localhost:*` is every port). None when every origin is allowed ("*")."""
    entries = list(origins)
    if "*" in entries:
        return None
    if not entries:
        return "(?!)"  # matches nothing
    return "|".join(re.escape(e).replace(r"\*", r"[^/]*") for e in entries)


class CORS(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a JSON error like every other refusal."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refusal = errors.PermissionDeniedError(
            f"Origin {request_headers.get('origin', '')[:100]!r} may not call ccgw from a browser (cors_origins), "
            f"or the method or headers asked for are not allowed",
            code="cors_refused",
        )
        from ccgw.web import error_response  # web imports this module

        return error_response(refusal, "/")


def cors_options(settings: Settings) -> dict[str, Any]:
    pattern = origin_pattern(settings.cors_origins)
    return {
        "allow_origins": ["*"] if pattern is None else [],
        "allow_origin_regex": pattern,
        "allow_methods": ["GET", "POST", "OPTIONS"],
        "allow_headers": ["*"],
        "expose_headers": ["x-request-id", "retry-after", "request-id"],
    }


def html_headers(csp: str) -> dict[str, str]:
    """The headers of an HTML page: its CSP (always with frame-ancestors 'none') and no framing."""
    if FRAME_ANCESTORS not in csp:
        csp = f"{csp.rstrip('; ')}; {FRAME_ANCESTORS}"
    return {"Content-Security-Policy": csp, "Cache-Control": "no-cache", **HTML_HEADERS}
