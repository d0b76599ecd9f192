"""Fetching remote images for clients that send `http(s)` image URLs (the upstream wants inline data).

The gateway runs on the user's machine, so a URL must not become a way into the user's network:
unless `images.allow_private` is set, every address a host name resolves to must be public (IPv6
forms that embed an IPv4 address are judged by that address), the connection goes to the address
that was checked (no second DNS answer can swap it), and each redirect hop is checked again. Size,
time and media type are capped; every problem is a 400 that says what was wrong with which image.

One request fetches at most `images.max_remote` URLs, :data:`PARALLEL` at a time, through an HTTP
client of its own that is closed when the request's fetches end. A failure cancels the others.
The client is not shared on purpose: httpcore's pool keeps a slot forever for a request cancelled
between being given a new connection and using it (encode/httpcore#1093), so a shared pool filled
up with dead slots after one request with many images timed out, and every later fetch waited
forever; a pool per request dies with its request.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable

import httpx

from ccgw.config import ImageSettings
from ccgw.errors import InvalidRequestError
from ccgw.translate.common import shown

MAX_REDIRECTS = 3
PARALLEL = 8  # fetches of one request at a time (its pool never has to queue one)

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# Prefixes whose last 32 bits are an IPv4 address: NAT64 (well-known and local-use), SIIT, IPv4-compatible.
_LAST_32 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: IPv4-mapped and -compatible, 6to4, NAT64, Teredo."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client)
    if int(ip) > 1 and any(ip in network for network in _LAST_32):  # not :: and ::1
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner:
            return all(is_public(str(v4)) for v4 in inner)
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
        self._transport = transport  # tests inject one; else each batch gets its own pool
        self._tls: ssl.SSLContext | None = None  # made once: loading the CA bundle takes milliseconds

    async def aclose(self) -> None:
        """Nothing outlives a batch of fetches (kept for the owner's symmetry)."""

    def _client(self) -> httpx.AsyncClient:
        if self._transport is not None:
            return httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        limits = httpx.Limits(max_connections=PARALLEL * (MAX_REDIRECTS + 1), max_keepalive_connections=PARALLEL)
        return httpx.AsyncClient(
            verify=self._tls, limits=limits, follow_redirects=False, timeout=self._settings.timeout
        )

    async def fetch_all(self, urls: Iterable[str]) -> dict[str, str]:
        """Fetch each distinct URL once, a few at a time; URL → data URL. The first failure cancels the rest."""
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        if not self._settings.fetch_remote:
            raise InvalidRequestError("Remote image URLs are disabled (images.fetch_remote); send data URLs instead")
        if len(unique) > self._settings.max_remote:
            raise InvalidRequestError(
                f"The request has {len(unique)} remote image URLs; ccgw fetches at most {self._settings.max_remote} "
                "per request (images.max_remote): send the others as data URLs"
            )
        gate = asyncio.Semaphore(PARALLEL)
        async with self._client() as http:

            async def one(url: str) -> str:
                async with gate:
                    return await self.fetch(url, http)

            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(one(u)) for u in unique]
            except BaseExceptionGroup as failed:
                raise _first(failed) from None
        return {url: task.result() for url, task in zip(unique, tasks, strict=True)}

    async def fetch(self, url: str, http: httpx.AsyncClient | None = None) -> str:
        if http is None:
            async with self._client() as own:
                return await self.fetch(url, own)
        try:
            async with asyncio.timeout(self._settings.timeout):
                return await self._fetch(url, http)
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

    async def _fetch(self, original: str, http: httpx.AsyncClient) -> str:
        url = httpx.URL(original)
        for _ in range(MAX_REDIRECTS + 1):
            target, headers, extensions = await self._target(url, original)
            request = http.build_request("GET", target, headers=headers, extensions=extensions)
            response = await http.send(request, stream=True)
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


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a batch: a client-facing one if any (the rest were cancelled)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return next((e for e in leaves if isinstance(e, InvalidRequestError)), leaves[0])
