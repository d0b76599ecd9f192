"""The dashboard page in a real headless Chromium, against fixture JSON served by a small local server.

The browser is driven over the DevTools protocol (one websocket, flattened sessions), so a test can wait for
the page's own `data-ready` flag, type into the key form and read the DOM, instead of guessing a virtual-time
budget. Screenshots are decoded by a stdlib PNG reader and checked for coloured chart pixels.

`CCGW_WRITE_SCREENSHOT=1 .venv/bin/python -m pytest tests/test_dashboard_browser.py -k renders` also writes
the README's `docs/dashboard.png`.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "src" / "ccgw" / "dashboard" / "index.html"
FIXTURES = Path(__file__).parent / "fixtures" / "dashboard"
SCREENSHOT = ROOT / "docs" / "dashboard.png"
CHROMIUM = Path("/usr/bin/chromium")
KEY = "ccgw-dashboard-test-key"
WIDTH, HEIGHT = 1280, 900
CHARTS = ("chart-cost", "chart-tokens", "chart-models", "chart-keys")
TIMEOUT = 20.0

# ---- the fake gateway ------------------------------------------------------------------------------------


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


USAGE: dict[str, Any] = _load("usage.json")
RECENT: list[dict[str, Any]] = _load("recent.json")["requests"]


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shifted(now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fixtures moved forward by whole hours, so their newest hour is the current one.

    The page draws the 48 hours up to now; unshifted fixtures would age out of its window.
    """
    anchor = _parse(USAGE["updated_at"])
    hour = timedelta(hours=1)
    delta = (now - anchor.replace(minute=0, second=0, microsecond=0)) // hour * hour
    days = ((anchor + delta).date() - anchor.date()).days

    def move(stamp: str | None) -> str | None:
        return None if stamp is None else _stamp(_parse(stamp) + delta)

    def move_hour(label: str) -> str:
        return (_parse(label + ":00+00:00") + delta).strftime("%Y-%m-%dT%H")

    def move_day(label: str) -> str:
        return (datetime.fromisoformat(label) + timedelta(days=days)).strftime("%Y-%m-%d")

    usage = json.loads(json.dumps(USAGE))
    usage["by_hour"] = {move_hour(k): v for k, v in USAGE["by_hour"].items()}
    usage["by_day"] = {move_day(k): v for k, v in USAGE["by_day"].items()}
    usage["updated_at"] = move(USAGE["updated_at"])
    plan = usage["plan"]
    plan["fetched_at"] = move(plan["fetched_at"])
    for window in plan["windows"].values():
        window["resets_at"] = move(window["resets_at"])
    recent = [{**r, "at": move(r["at"])} for r in RECENT]
    return usage, recent


@dataclass
class FakeGateway:
    """What the fixture server answers; a test changes these fields and they apply to the next request."""

    key: str | None = None
    fail: bool = False
    plan: dict[str, Any] | None = None
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def answer(self, path: str, authorization: str | None) -> tuple[int, str, bytes]:
        self.seen.append((path, authorization))
        url = urlsplit(path)
        if url.path == "/dashboard":
            return 200, "text/html; charset=utf-8", PAGE.read_bytes()
        if url.path not in ("/usage", "/usage/recent"):
            return 404, "application/json", b'{"error": {"message": "not found"}}'
        if self.key is not None and authorization != f"Bearer {self.key}":
            return 401, "application/json", b'{"error": {"message": "Invalid API key", "code": "invalid_api_key"}}'
        if self.fail:
            return 502, "application/json", b'{"error": {"message": "usage store unavailable"}}'
        usage, recent = shifted(datetime.now(UTC))
        if url.path == "/usage/recent":
            limit = int(parse_qs(url.query).get("limit", ["50"])[0])
            return 200, "application/json", json.dumps({"requests": recent[:limit]}).encode()
        if self.plan is not None:
            usage["plan"] = self.plan
        return 200, "application/json", json.dumps(usage).encode()

    def authorizations(self, path: str) -> list[str | None]:
        return [auth for p, auth in self.seen if urlsplit(p).path == path]


def serve(gateway: FakeGateway) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = gateway.answer(self.path, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="dashboard-fixtures", daemon=True).start()
    return server


# ---- the browser ------------------------------------------------------------------------------------------


class DevTools:
    """A DevTools-protocol connection to the browser; commands are answered in order, events are kept."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        call_id = next(self.ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)


class Browser:
    """Debian's Chromium, headless, with a throw-away profile."""

    def __init__(self, profile: Path) -> None:
        self.log = (profile / "chromium.log").open("wb")
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            "--lang=en-US",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        self.process = subprocess.Popen([str(CHROMIUM), *flags], stdout=subprocess.DEVNULL, stderr=self.log)
        self.resources = ExitStack()
        url = self._devtools_url(profile)
        self.devtools = DevTools(self.resources.enter_context(connect(url, max_size=None, open_timeout=TIMEOUT)))

    def _devtools_url(self, profile: Path) -> str:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = port_file.read_text().splitlines() if port_file.exists() else []
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"Chromium did not start: {(profile / 'chromium.log').read_text(errors='replace')[-2000:]}")

    def close(self) -> None:
        try:
            if self.process.poll() is None and hasattr(self, "devtools"):
                self.devtools.send("Browser.close")
            self.process.wait(timeout=10)
        except (RuntimeError, TimeoutError, OSError, ConnectionClosed, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            self.resources.close()
            self.log.close()


class Tab:
    """One page in its own browser context (fresh localStorage), at a fixed size, locale and time zone."""

    def __init__(
        self, browser: Browser, width: int = WIDTH, height: int = HEIGHT, timezone: str = "UTC", dark: bool = False
    ) -> None:
        self.devtools = browser.devtools
        self.context = self.devtools.send("Target.createBrowserContext")["browserContextId"]
        target = self.devtools.send("Target.createTarget", {"url": "about:blank", "browserContextId": self.context})
        self.target = target["targetId"]
        attached = self.devtools.send("Target.attachToTarget", {"targetId": self.target, "flatten": True})
        self.session = attached["sessionId"]
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics)
        self.send("Emulation.setLocaleOverride", {"locale": "en-US"})
        self.send("Emulation.setTimezoneOverride", {"timezoneId": timezone})
        scheme = "dark" if dark else "light"
        self.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        self.send("Runtime.enable")
        self.send("Log.enable")

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.devtools.send(method, params, self.session)

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def js(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            thrown = reply["exceptionDetails"].get("exception", {}).get("description")
            raise AssertionError(f"{expression[:80]!r} threw: {thrown}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = TIMEOUT) -> Any:
        """Poll until `expression` is truthy; it may throw meanwhile (the page is still loading)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
            if "exceptionDetails" not in reply and reply["result"].get("value"):
                return reply["result"]["value"]
            if time.monotonic() > deadline:
                state = self.js("document.body ? document.body.innerText.slice(0, 600) : ''")
                raise AssertionError(f"timed out waiting for {expression!r}; page says: {state!r}; {self.problems()}")
            time.sleep(0.05)

    def problems(self) -> list[str]:
        """Uncaught exceptions and console errors in this page so far."""
        found = []
        for event in self.devtools.events:
            if event.get("sessionId") != self.session:
                continue
            if event["method"] == "Runtime.exceptionThrown":
                found.append(str(event["params"]["exceptionDetails"].get("exception", {}).get("description")))
            elif event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                found.append(event["params"]["entry"]["text"])
        return found

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        self.devtools.send("Target.closeTarget", {"targetId": self.target})
        self.devtools.send("Target.disposeBrowserContext", {"browserContextId": self.context})


# ---- PNG ----------------------------------------------------------------------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, RGB rows) of an 8-bit, non-interlaced RGB or RGBA PNG, as Chromium's screenshots are."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8 : pos + 8 + length]
        elif kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: {depth=} {colour=} {interlace=}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, bpp)
        rows.append(bytes(line) if bpp == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        previous = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> None:
    if kind == 1:
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, above, strict=True))
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (left + above[i]) // 2) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b, c = above[i], above[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    else:
        assert kind == 0, f"unknown PNG filter {kind}"


def coloured_pixels(rows: list[bytes], box: dict[str, float]) -> int:
    """Saturated pixels (bars, not grey text or grid lines) inside `box` of an RGB image."""
    count = 0
    for y in range(max(0, int(box["top"])), min(len(rows), int(box["bottom"]))):
        row = rows[y]
        for x in range(max(0, int(box["left"])), min(len(row) // 3, int(box["right"]))):
            r, g, b = row[3 * x : 3 * x + 3]
            count += max(r, g, b) - min(r, g, b) > 60
    return count


# ---- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); the dashboard browser tests need it")
    started = Browser(tmp_path_factory.mktemp("chromium"))
    yield started
    started.close()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ThreadingHTTPServer, FakeGateway]]:
    gateway = FakeGateway()
    httpd = serve(gateway)
    yield httpd, gateway
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def gateway(server: tuple[ThreadingHTTPServer, FakeGateway]) -> FakeGateway:
    fake = server[1]
    fake.key, fake.fail, fake.plan = None, False, None
    fake.seen.clear()
    return fake


@pytest.fixture
def base_url(server: tuple[ThreadingHTTPServer, FakeGateway]) -> str:
    host, port = server[0].server_address[:2]
    return f"http://{host!s}:{port}"


@pytest.fixture
def tabs(browser: Browser) -> Iterator[Callable[..., Tab]]:
    opened: list[Tab] = []

    def open_tab(**options: Any) -> Tab:
        opened.append(Tab(browser, **options))
        return opened[-1]

    yield open_tab
    for tab in opened:
        tab.close()


READY = "document.body.dataset.ready === '1'"
SNAPSHOT = """((ids) => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const charts = {};
  for (const id of ids) {
    const svg = document.querySelector(`#${id} svg`);
    const container = document.getElementById(id);
    charts[id] = {points: svg ? Number(svg.dataset.points) : -1, box: box(container),
                  fill: svg ? svg.getBoundingClientRect().width / container.clientWidth : 0};
  }
  const text = (sel) => document.querySelector(sel).textContent.trim();
  return {
    charts,
    gauges: {five_hour: text('#gauge-five-hour .pct'), weekly: text('#gauge-weekly .pct')},
    resets: text('#gauge-five-hour .reset'),
    totals: ['requests', 'failed', 'tokens', 'cost'].map((n) => text(`#total-${n} .big`)),
    statuses: [...document.querySelectorAll('#recent tbody tr')].map((tr) => tr.cells[4]?.textContent),
    served: [...document.querySelectorAll('#recent tbody tr')].map((tr) => tr.cells[11]?.textContent),
    accounts: [...document.querySelectorAll('#accounts li')].map((li) => li.textContent),
    errorPills: [...document.querySelectorAll('#recent .pill.err')].map((p) => getComputedStyle(p).color),
    okPills: [...document.querySelectorAll('#recent .pill.ok')].map((p) => getComputedStyle(p).color),
    updated: text('#updated-text'),
    banner: document.getElementById('error').hidden,
  };
})"""


def snapshot(tab: Tab) -> dict[str, Any]:
    """What the page shows: chart points and boxes, gauge texts, totals, table statuses, banner state."""
    shown: dict[str, Any] = tab.js(f"{SNAPSHOT}({json.dumps(CHARTS)})")
    return shown


def load(tab: Tab, base_url: str) -> dict[str, Any]:
    tab.open(f"{base_url}/dashboard")
    tab.wait_for(READY)
    return snapshot(tab)


def percent(window: dict[str, Any]) -> str:
    return f"{int(window['used'] / window['cap'] * 100 + 0.5)}%"


# ---- tests ----------------------------------------------------------------------------------------------------


def test_dashboard_fixtures_renders_gauges_charts_table_and_screenshot(
    tabs: Callable[..., Tab], base_url: str, gateway: FakeGateway
) -> None:
    tab = tabs()
    page = load(tab, base_url)

    points = {chart: page["charts"][chart]["points"] for chart in CHARTS}
    assert points == {
        "chart-cost": len(USAGE["by_hour"]),
        "chart-tokens": len(USAGE["by_hour"]),
        "chart-models": len(USAGE["by_model"]),
        "chart-keys": len(USAGE["by_key"]),
    }
    windows = USAGE["plan"]["windows"]
    assert page["gauges"] == {"five_hour": percent(windows["five_hour"]), "weekly": percent(windows["weekly"])}
    assert page["resets"].startswith("resets in ")
    assert page["totals"][:2] == [f"{USAGE['total_requests']:,}", f"{USAGE['failed_requests']:,}"]
    assert page["totals"][3] == f"${USAGE['cost_usd']:.2f}"
    assert page["statuses"] == [r["status"] for r in RECENT]
    assert len(page["statuses"]) == 30
    paths = {"provider": "Provider API", "cli": "CLI endpoint"}
    assert page["served"] == [f"{r['account']} · {paths[r['path']]}" for r in RECENT]
    assert page["accounts"] == [
        "personalCLI endpointno Provider API on this plan (upgrade_required)",
        "workProvider APIthe plan has the Provider API",
    ]
    assert len(page["errorPills"]) == 2 and len(page["okPills"]) == 28
    assert set(page["errorPills"]).isdisjoint(page["okPills"])
    assert page["updated"].startswith("updated") and page["banner"] is True
    assert tab.problems() == []
    fetched = tab.js("performance.getEntriesByType('resource').map((e) => e.name)")
    assert fetched and all(url.startswith(base_url + "/usage") for url in fetched)

    png = tab.screenshot()
    width, height, rows = decode_png(png)
    assert (width, height) == (WIDTH, HEIGHT)
    for chart in CHARTS:
        assert 0.95 <= page["charts"][chart]["fill"] <= 1.0, f"{chart} is not drawn to its container's width"
        box = page["charts"][chart]["box"]
        assert box["bottom"] <= HEIGHT, f"{chart} is below the fold: {box}"
        area = (box["right"] - box["left"]) * (box["bottom"] - box["top"])
        assert coloured_pixels(rows, box) > 0.02 * area, f"{chart} looks blank in the screenshot"
    if os.environ.get("CCGW_WRITE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(png)


def test_dashboard_day_toggle_redraws_time_charts_by_day(
    tabs: Callable[..., Tab], base_url: str, gateway: FakeGateway
) -> None:
    tab = tabs()
    load(tab, base_url)

    tab.js("document.querySelector('[data-range=day]').click()")

    points = tab.js("[...document.querySelectorAll('#chart-cost svg, #chart-tokens svg')].map((s) => s.dataset.points)")
    assert points == [str(len(USAGE["by_day"]))] * 2
    assert tab.js("document.querySelector('[data-range=day]').getAttribute('aria-pressed')") == "true"


def test_dashboard_key_required_asks_once_then_sends_bearer(
    tabs: Callable[..., Tab], base_url: str, gateway: FakeGateway
) -> None:
    gateway.key = KEY
    tab = tabs()
    form_shown = "!document.getElementById('key-form').hidden && document.activeElement.id === 'key-input'"

    def type_key(key: str) -> None:
        tab.send("Input.insertText", {"text": key})
        for kind in ("keyDown", "keyUp"):
            enter = {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            tab.send("Input.dispatchKeyEvent", {**enter, "text": "\r"} if kind == "keyDown" else enter)

    tab.open(f"{base_url}/dashboard")
    tab.wait_for(form_shown)
    assert tab.js("document.body.dataset.ready") is None
    type_key("wrong-key")
    tab.wait_for(form_shown + " && /not accepted/.test(document.getElementById('key-msg').textContent)")
    type_key(KEY)
    tab.wait_for(READY)

    assert gateway.authorizations("/usage")[:3] == [None, "Bearer wrong-key", f"Bearer {KEY}"]
    assert gateway.authorizations("/usage/recent")[-1] == f"Bearer {KEY}"
    assert not any(KEY in path or "wrong-key" in path for path, _ in gateway.seen)
    assert tab.js("Object.values(localStorage)") == [KEY]

    gateway.seen.clear()
    tab.js("location.reload()")
    tab.wait_for(f"{READY} && performance.getEntriesByType('navigation')[0].type === 'reload'")
    assert set(gateway.authorizations("/usage") + gateway.authorizations("/usage/recent")) == {f"Bearer {KEY}"}


def test_dashboard_failed_refresh_keeps_data_and_shows_banner(
    tabs: Callable[..., Tab], base_url: str, gateway: FakeGateway
) -> None:
    tab = tabs()
    before = load(tab, base_url)
    requests = len(gateway.authorizations("/usage"))

    gateway.fail = True
    # No click: the page's own five-second timer must find the failure.
    tab.wait_for("!document.getElementById('error').hidden", timeout=15)

    assert len(gateway.authorizations("/usage")) > requests
    assert "HTTP 502" in tab.js("document.getElementById('error').textContent")
    after = snapshot(tab)
    assert after["statuses"] == before["statuses"]
    assert {c: after["charts"][c]["points"] for c in CHARTS} == {c: before["charts"][c]["points"] for c in CHARTS}
    assert tab.js("document.body.dataset.ready") == "1"

    gateway.fail = False
    tab.js("document.getElementById('refresh').click()")
    tab.wait_for("document.getElementById('error').hidden")


@pytest.mark.parametrize(
    ("status", "badge", "note"),
    [("ok", False, False), ("stale", True, False), ("unavailable", False, True)],
)
def test_dashboard_plan_status_shows_badge_or_note(
    tabs: Callable[..., Tab], base_url: str, gateway: FakeGateway, status: str, badge: bool, note: bool
) -> None:
    plan = {**USAGE["plan"], "status": status}
    if status == "unavailable":
        plan.update(fetched_at=None, windows={}, monthly_credits=None, purchased_credits=None, free_credits=None)
    gateway.plan = plan
    tab = tabs()
    load(tab, base_url)

    assert tab.js("!document.getElementById('plan-badge').hidden") is badge
    assert tab.js("!document.getElementById('plan-note').hidden") is note
    assert tab.js("!document.getElementById('gauges').hidden") is not note
    assert tab.problems() == []


def test_dashboard_narrow_window_fits_without_sideways_scrolling(
    tabs: Callable[..., Tab], base_url: str, gateway: FakeGateway
) -> None:
    tab = tabs(width=390, height=844, timezone="Asia/Kolkata", dark=True)
    page = load(tab, base_url)

    assert all(page["charts"][chart]["points"] > 0 for chart in CHARTS)
    assert all(0.95 <= page["charts"][chart]["fill"] <= 1.0 for chart in CHARTS)
    assert tab.js("document.documentElement.scrollWidth") <= 390
    widest = tab.js(
        "Math.max(...[...document.querySelectorAll('.chart svg')].map((s) => s.getBoundingClientRect().right))"
    )
    assert widest <= 390
    assert tab.problems() == []


def test_decode_png_unfilters_every_filter_type() -> None:
    width, rows = 3, [bytes([10, 200, 30, 40, 50, 60, 255, 0, 128]), bytes([1, 2, 3, 4, 5, 6, 7, 8, 9])] * 5
    image = b"".join(
        bytes([y // 2]) + _filter(y // 2, row, rows[y - 1] if y else bytes(len(row)), 3) for y, row in enumerate(rows)
    )
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(image)) + chunk(b"IEND", b"")

    assert decode_png(png) == (width, len(rows), rows)


def _filter(kind: int, row: bytes, above: bytes, bpp: int) -> bytes:
    out = bytearray()
    for i, value in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b, c = above[i], above[i - bpp] if i >= bpp else 0
        p = a + b - c
        paeth = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
        predictor = [0, a, b, (a + b) // 2, paeth][kind]
        out.append((value - predictor) & 0xFF)
    return bytes(out)


def test_coloured_pixels_ignores_greys() -> None:
    grey, teal = bytes([120, 120, 120]), bytes([14, 147, 132])
    rows = [grey * 2 + teal * 2, teal * 4]

    assert coloured_pixels(rows, {"left": 1, "top": 0, "right": 4, "bottom": 2}) == 5
