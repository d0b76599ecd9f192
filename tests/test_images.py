"""Remote image fetching: inlining, caps, and no way into the user's network (SSRF)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
import respx

from ccgw.config import ImageSettings
from ccgw.errors import InvalidRequestError
from ccgw.images import ImageFetcher, is_public

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
PUBLIC = "93.184.216.34"


def fetcher(router: respx.MockRouter, dns: dict[str, list[str]], **settings: Any) -> ImageFetcher:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in dns:
            raise OSError("no such host")
        return dns[host]

    return ImageFetcher(ImageSettings(**settings), transport=httpx.MockTransport(router.handler), resolver=resolve)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_fetch_inlines_image_and_pins_checked_address() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"https://{PUBLIC}/cat.png").mock(
        return_value=httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    )
    images = fetcher(router, {"img.example": [PUBLIC]})
    url = run(images.fetch("https://img.example/cat.png"))
    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    sent = route.calls.last.request
    assert sent.headers["host"] == "img.example"
    assert sent.extensions["sni_hostname"] == "img.example"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        # IPv6 forms that embed a loopback or private IPv4 address:
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT) 127.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    ],
)
def test_fetch_refuses_private_loopback_link_local_and_metadata(address: str) -> None:
    router = respx.MockRouter(assert_all_called=False)
    images = fetcher(router, {"evil.example": [address]})
    with pytest.raises(InvalidRequestError, match="private, loopback or link-local"):
        run(images.fetch("http://evil.example/x.png"))
    assert not router.calls


def test_fetch_refuses_when_any_dns_answer_is_private() -> None:
    images = fetcher(respx.MockRouter(assert_all_called=False), {"mixed.example": [PUBLIC, "127.0.0.1"]})
    with pytest.raises(InvalidRequestError, match="private"):
        run(images.fetch("http://mixed.example/x.png"))


def test_fetch_redirect_to_private_is_refused() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.get(f"http://{PUBLIC}/x.png").mock(
        return_value=httpx.Response(302, headers={"location": "http://internal.example/secret"})
    )
    images = fetcher(router, {"ok.example": [PUBLIC], "internal.example": ["10.1.2.3"]})
    with pytest.raises(InvalidRequestError, match="private"):
        run(images.fetch("http://ok.example/x.png"))


def test_fetch_allow_private_opt_in() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.get("http://127.0.0.1:8080/x.png").mock(
        return_value=httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    )
    images = fetcher(router, {"localhost": ["127.0.0.1"]}, allow_private=True)
    assert run(images.fetch("http://localhost:8080/x.png")).startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (httpx.Response(200, content=b"<html>", headers={"content-type": "text/html"}), "not an image"),
        (httpx.Response(404), "HTTP 404"),
        (httpx.Response(200, content=PNG * 100, headers={"content-type": "image/png"}), "larger than"),
        (httpx.Response(200, content=b"", headers={"content-type": "image/png"}), "empty body"),
    ],
)
def test_fetch_bad_images_are_400_saying_why(response: httpx.Response, problem: str) -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.get(f"http://{PUBLIC}/x.png").mock(return_value=response)
    images = fetcher(router, {"img.example": [PUBLIC]}, max_bytes=1000)
    with pytest.raises(InvalidRequestError, match=problem):
        run(images.fetch("http://img.example/x.png"))


def test_fetch_unresolvable_and_bad_scheme() -> None:
    images = fetcher(respx.MockRouter(assert_all_called=False), {})
    with pytest.raises(InvalidRequestError, match="does not resolve"):
        run(images.fetch("http://nowhere.example/x.png"))
    with pytest.raises(InvalidRequestError, match="only http and https"):
        run(images.fetch("file:///etc/passwd"))


def test_is_public() -> None:
    assert is_public("8.8.8.8")
    assert not is_public("0.0.0.0")
    assert not is_public("224.0.0.1")


def test_is_public_judges_ipv6_by_the_ipv4_it_embeds() -> None:
    assert is_public("64:ff9b::808:808")  # NAT64 of 8.8.8.8
    assert is_public("2002:808:808::1")  # 6to4 of 8.8.8.8
    assert is_public("2606:4700::1111")


class CountingTransport(httpx.AsyncBaseTransport):
    """Answers from `router`; counts how often a client closed it."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.inner = httpx.MockTransport(router.async_handler)
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed += 1


def batch_fetcher(router: respx.MockRouter, **settings: Any) -> tuple[ImageFetcher, CountingTransport]:
    async def resolve(host: str, port: int) -> list[str]:
        return [PUBLIC]

    transport = CountingTransport(router)
    return ImageFetcher(ImageSettings(**settings), transport=transport, resolver=resolve), transport


def png(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})


def test_fetch_all_over_the_cap_is_400_before_fetching_anything() -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.route().mock(side_effect=png)
    images, _ = batch_fetcher(router)
    urls = [f"http://img.example/{i}.png" for i in range(2000)]
    with pytest.raises(InvalidRequestError, match=r"2000 remote image URLs.*at most 16.*images.max_remote"):
        run(images.fetch_all(urls))
    assert not router.calls
    assert len(run(images.fetch_all(urls[:16]))) == 16


def test_fetch_all_first_failure_cancels_the_others() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/bad.png":
            await asyncio.sleep(0.05)
            return httpx.Response(404)
        started.append(request.url.path)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(request.url.path)
            raise
        return png(request)

    router = respx.MockRouter(assert_all_called=False)
    router.route().mock(side_effect=answer)
    images, _ = batch_fetcher(router)

    async def scenario() -> None:
        urls = [f"http://img.example/{i}.png" for i in range(5)] + ["http://img.example/bad.png"]
        with pytest.raises(InvalidRequestError, match="HTTP 404"):
            await images.fetch_all(urls)
        await asyncio.sleep(0)
        # Checked here, while the loop runs: anything left behind would still be sleeping now.
        assert started and sorted(cancelled) == sorted(started)

    async def bounded() -> None:
        async with asyncio.timeout(5):
            await scenario()

    run(bounded())


def test_fetch_all_each_batch_gets_a_pool_that_dies_with_it() -> None:
    """httpcore keeps a pool slot forever for a request cancelled at the wrong moment (encode/httpcore#1093):
    a pool shared by every request filled up with dead slots and every later fetch hung. Each batch's
    pool is closed when the batch ends, whether it succeeded, failed or was cancelled."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return png(request)

    router = respx.MockRouter(assert_all_called=False)
    router.get(f"http://{PUBLIC}/slow.png").mock(side_effect=slow)
    router.route().mock(side_effect=png)
    images, transport = batch_fetcher(router)

    async def scenario() -> None:
        await images.fetch_all(["http://img.example/a.png", "http://img.example/b.png"])
        hanging = asyncio.ensure_future(images.fetch_all(["http://img.example/slow.png", "http://img.example/c.png"]))
        await asyncio.sleep(0.05)
        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging
        assert await images.fetch_all(["http://img.example/d.png"])

    run(scenario())
    assert transport.closed == 3
