"""The servers of one run and the side-by-side request pairs sent to them.

The gateway runs alone on one core; the fake upstreams and the load generator share the other
(`CORES`). A :class:`Pair` holds the same work twice: sent directly to the upstream, as the gateway
(or LiteLLM) itself sends it — captured from the upstream's own request log — and sent through the
proxy.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from bench import peer_litellm, shapes
from bench.loadgen import Request, build_request
from bench.procs import Server, free_port, python_module, spawn

CORES: Final = {"proxy": "1", "upstream": "0", "load": "0"}
LOCAL_KEY: Final = "ccgw-bench-local-key-0123456789"
UPSTREAM_KEY: Final = "user_bench_0123456789abcdefghijklmnopqrstuvwxyz"
HOST: Final = "127.0.0.1"
SKIP_HEADERS: Final = {"host", "content-length", "connection", "transfer-encoding"}


@dataclass(frozen=True)
class Pair:
    """One workload point: `direct` goes to the upstream, `proxied` through the proxy."""

    name: str
    direct: Request
    proxied: Request
    direct_port: int
    proxied_port: int
    proxy_pid: int
    upstream_pid: int
    direct_body: bytes
    proxied_body: bytes
    direct_headers: dict[str, str]
    proxied_headers: dict[str, str]
    direct_path: str
    proxied_path: str


def _gist(error: str) -> str:
    """First and last line of a start-up failure (the last is usually the process's own complaint)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in error.splitlines()]
    lines = [ln for ln in lines if ln]
    return " … ".join(dict.fromkeys([lines[0], lines[-1]]))[:400] if lines else "unknown error"


class Stack:
    def __init__(
        self, workdir: Path, *, with_peer: bool, storage_url: str = "", gateway_prefix: list[str] | None = None
    ) -> None:
        self.workdir = workdir
        self.storage_url = storage_url
        self.gateway_prefix = gateway_prefix or []  # e.g. valgrind's command line (bench.cost)
        self.with_peer = with_peer
        self.fake: Server | None = None
        self.gateway: Server | None = None
        self.openai_fake: Server | None = None
        self.litellm: Server | None = None
        self.peer_error: str | None = None
        self.extra: list[Server] = []  # more gateways (bench.cost --against), stopped with the rest

    def start(self) -> None:
        """Start every server at once (LiteLLM takes long to import), then wait for each."""
        self.fake = self._spawn_upstream("fakecc", "tests.fakecc", ready_path="/_fake/stats")
        self.gateway = self._spawn_gateway()
        if self.with_peer:
            self._spawn_peer()
        self.fake.wait_ready()
        self.gateway.wait_ready()
        if self.openai_fake is not None and self.litellm is not None:
            self.openai_fake.wait_ready()
            try:
                self.litellm.wait_ready()
            except RuntimeError as exc:
                self.peer_error = _gist(str(exc))
                self.litellm = None

    def _spawn_upstream(self, name: str, module: str, *, ready_path: str) -> Server:
        """A fake upstream server (`python -m module`), on the upstream core."""
        port = free_port()
        argv = python_module(module, "--host", HOST, "--port", str(port))
        return spawn(name, argv, port=port, workdir=self.workdir, ready_path=ready_path, cores=CORES["upstream"])

    def _spawn_gateway(self, root: Path | None = None, name: str = "ccgw") -> Server:
        """The gateway, from this checkout or the one at `root` (`bench.cost --against`)."""
        assert self.fake is not None
        config = {
            "api_key": LOCAL_KEY,
            "commandcode": {"api_key": UPSTREAM_KEY, "base_url": self.fake.url},
            "exclude_models": ["claude-"],
            "usage_file": str(self.workdir / f"{name}-usage.json"),
            "log_level": "warning",
        }
        if self.storage_url:
            config["storage"] = {"url": self.storage_url}
        path = self.workdir / f"{name}-config.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        argv = [
            *self.gateway_prefix,
            sys.executable,
            "app.py",
            "--config",
            str(path),
            "--host",
            HOST,
            "--port",
            str(port),
        ]
        cores = CORES["proxy"]
        return spawn(name, argv, port=port, workdir=self.workdir, ready_path="/health", cores=cores, cwd=root)

    def restart_gateway(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        self.gateway = self._spawn_gateway().wait_ready()

    def _spawn_peer(self) -> None:
        self.openai_fake = self._spawn_upstream("openai-fake", "bench.openai_fake", ready_path="/health")
        try:
            self.litellm = peer_litellm.spawn(self.workdir, self.openai_fake.url, CORES["proxy"])
        except (RuntimeError, OSError) as exc:
            self.peer_error = _gist(str(exc))

    def pids(self) -> list[int]:
        servers = (self.fake, self.gateway, self.openai_fake, self.litellm)
        return [s.pid for s in servers if s is not None and s.alive()]

    def spawn_gateway(self, root: Path, name: str) -> Server:
        """Another gateway, from the checkout at `root`, on the same fake (stopped with the rest)."""
        server = self._spawn_gateway(root, name)
        self.extra.append(server)
        return server.wait_ready()

    def stop(self) -> None:
        for server in (self.litellm, self.openai_fake, *self.extra, self.gateway, self.fake):
            if server is not None:
                server.stop()

    # -- pairs ------------------------------------------------------------------------------------

    def clear_fake_log(self) -> None:
        assert self.fake is not None
        httpx.delete(self.fake.url + "/_fake/requests", timeout=30).raise_for_status()

    def ccgw_pair(self, protocol: str, marker: str, deltas: int, *, stream: bool, **shape: Any) -> Pair:
        """The gateway's request for `protocol`, and the `/alpha/generate` call it makes for it."""
        assert self.fake is not None and self.gateway is not None
        body = json.dumps(shapes.client_body(protocol, marker, stream=stream, **shape)).encode()
        headers = {"Authorization": f"Bearer {LOCAL_KEY}", "Content-Type": "application/json"}
        path = shapes.PATHS[protocol]
        self.clear_fake_log()
        response = httpx.post(self.gateway.url + path, content=body, headers=headers, timeout=120)
        response.raise_for_status()
        log = httpx.get(self.fake.url + "/_fake/requests", params={"path": "/alpha/generate"}, timeout=60)
        captured = log.json()["requests"][-1]
        self.clear_fake_log()
        direct_body = json.dumps(captured["body"], separators=(",", ":"), ensure_ascii=False).encode()
        direct_headers = {k: v for k, v in captured["headers"].items() if k not in SKIP_HEADERS}
        return self._pair(
            f"ccgw {path}",
            (self.fake, "/alpha/generate", direct_body, direct_headers, shapes.expectations("direct", True, deltas)),
            (self.gateway, path, body, headers, shapes.expectations(protocol, stream, deltas)),
        )

    def peer_pair(self, marker: str, deltas: int, *, stream: bool, **shape: Any) -> Pair:
        """LiteLLM's request, and the chat completion it sends the OpenAI-compatible fake for it."""
        assert self.openai_fake is not None and self.litellm is not None
        body = json.dumps(shapes.client_body("openai", marker, stream=stream, model=shapes.PEER_MODEL, **shape))
        headers = {"Authorization": f"Bearer {peer_litellm.MASTER_KEY}", "Content-Type": "application/json"}
        response = httpx.post(self.litellm.url + "/v1/chat/completions", content=body, headers=headers, timeout=120)
        response.raise_for_status()
        direct_body = httpx.get(self.openai_fake.url + "/_last", timeout=30).content
        direct_headers = {"Authorization": "Bearer sk-bench-upstream", "Content-Type": "application/json"}
        expect = shapes.expectations("openai", stream, deltas)
        path = "/v1/chat/completions"
        return self._pair(
            "litellm /v1/chat/completions",
            (self.openai_fake, path, direct_body, direct_headers, expect),
            (self.litellm, path, body.encode(), headers, expect),
        )

    @staticmethod
    def _pair(
        name: str,
        direct: tuple[Server, str, bytes, dict[str, str], tuple[bytes, ...]],
        proxied: tuple[Server, str, bytes, dict[str, str], tuple[bytes, ...]],
    ) -> Pair:
        upstream, d_path, d_body, d_headers, d_expect = direct
        proxy, p_path, p_body, p_headers, p_expect = proxied
        marker = shapes.FIRST_TOKEN
        return Pair(
            name=name,
            direct=build_request(HOST, upstream.port, d_path, d_body, d_headers, marker=marker, expect=d_expect),
            proxied=build_request(HOST, proxy.port, p_path, p_body, p_headers, marker=marker, expect=p_expect),
            direct_port=upstream.port,
            proxied_port=proxy.port,
            proxy_pid=proxy.pid,
            upstream_pid=upstream.pid,
            direct_body=d_body,
            proxied_body=p_body,
            direct_headers=d_headers,
            proxied_headers=p_headers,
            direct_path=d_path,
            proxied_path=p_path,
        )
