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
    ["127.0.0.1", "10.0.0.8", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "::ffff:127.0.0.1", "100.64.0.1"],
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
