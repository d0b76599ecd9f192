"""Fetching remote images for clients that send `http(s)` image URLs (the upstream wants inline data).

The gateway runs on the user's machine, so a URL must not become a way into the user's network:
unless `images.allow_private` is set, every address a host name resolves to must be public, the
connection goes to the address that was checked (no second DNS answer can swap it), and each
redirect hop is checked again. Size, time and media type are capped; every problem is a 400 that
says what was wrong with which image.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpx

from ccgw.config import ImageSettings
from ccgw.errors import InvalidRequestError
from ccgw.translate.common import shown

MAX_REDIRECTS = 3

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class ImageFetcher:
    """Owns its own HTTP client: image hosts are arbitrary, unlike the one trusted upstream."""

    def __init__(
        self,
        settings: ImageSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._settings = settings
        self._resolver = resolver
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=settings.timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch_all(self, urls: Iterable[str]) -> dict[str, str]:
        """Fetch each distinct URL once, in parallel; URL → data URL."""
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        if not self._settings.fetch_remote:
            raise InvalidRequestError("Remote image URLs are disabled (images.fetch_remote); send data URLs instead")
        results = await asyncio.gather(*(self.fetch(u) for u in unique))
        return dict(zip(unique, results, strict=True))

    async def fetch(self, url: str) -> str:
        try:
            async with asyncio.timeout(self._settings.timeout):
                return await self._fetch(url)
        except TimeoutError:
            raise InvalidRequestError(f"Image {shown(url)}: no answer within {self._settings.timeout:g} s") from None
        except (httpx.InvalidURL, UnicodeError):
            raise InvalidRequestError(f"Image {shown(url)}: not a valid URL") from None
        except httpx.HTTPError as exc:
            raise InvalidRequestError(f"Image {shown(url)}: cannot be fetched ({type(exc).__name__})") from None

    async def _target(self, url: httpx.URL, original: str) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """The URL to connect to (host replaced by a checked address), Host header, TLS name."""
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidRequestError(f"Image {shown(original)}: only http and https URLs can be fetched")
        port = url.port or (443 if url.scheme == "https" else 80)
        if not 0 < port < 65536:
            raise InvalidRequestError(f"Image {shown(original)}: port {port} is out of range")
        try:
            addresses = await self._resolver(url.host, port)
        except OSError:
            raise InvalidRequestError(f"Image {shown(original)}: host {url.host!r} does not resolve") from None
        if not addresses:
            raise InvalidRequestError(f"Image {shown(original)}: host {url.host!r} does not resolve")
        if not self._settings.allow_private and not all(is_public(a) for a in addresses):
            raise InvalidRequestError(
                f"Image {shown(original)}: {url.host!r} is a private, loopback or link-local address; "
                "set images.allow_private to fetch from it"
            )
        pinned = url.copy_with(host=addresses[0])
        headers = {"Host": url.host if url.port is None else f"{url.host}:{url.port}", "Accept": "image/*"}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        return pinned, headers, extensions

    async def _fetch(self, original: str) -> str:
        url = httpx.URL(original)
        for _ in range(MAX_REDIRECTS + 1):
            target, headers, extensions = await self._target(url, original)
            request = self._http.build_request("GET", target, headers=headers, extensions=extensions)
            response = await self._http.send(request, stream=True)
            try:
                if response.is_redirect and "location" in response.headers:
                    url = url.join(response.headers["location"])
                    continue
                return await self._read_image(response, original)
            finally:
                await response.aclose()
        raise InvalidRequestError(f"Image {shown(original)}: more than {MAX_REDIRECTS} redirects")

    async def _read_image(self, response: httpx.Response, original: str) -> str:
        if response.status_code != 200:
            raise InvalidRequestError(f"Image {shown(original)}: the server answered HTTP {response.status_code}")
        mime = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not mime.startswith("image/"):
            raise InvalidRequestError(f"Image {shown(original)}: content type {mime or '(none)'!r} is not an image")
        limit = self._settings.max_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise InvalidRequestError(f"Image {shown(original)}: larger than {limit} bytes")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise InvalidRequestError(f"Image {shown(original)}: larger than {limit} bytes")
        if not body:
            raise InvalidRequestError(f"Image {shown(original)}: the server sent an empty body")
        return f"data:{mime};base64,{base64.b64encode(body).decode()}"
