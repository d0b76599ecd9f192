"""A real PostgreSQL server for the tests, started by the tests themselves (Debian's `postgresql`).

`initdb` and `postgres` refuse to run as root, so as root they run as the `postgres` system user
(`runuser`), with the data directory and the unix socket in a temporary directory and a free TCP
port on 127.0.0.1. Without PostgreSQL the tests that need it skip with a reason, except in CI
(`CI` set), where they fail: CI installs it (`.ci/run`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        command = [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(
            [*command, "-d", database, "-Atqc", sql], capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip()

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    bindir = _binaries()
    if bindir is None:
        message = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it, so CI must not skip these tests")
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="ccgw-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o700)
    data = root / "data"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    options = ["-c", "fsync=on", "-c", "max_connections=200", "-c", "shared_buffers=32MB"]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - the server writes it until stopped
    process = subprocess.Popen(
        [*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(root), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = PostgresServer(bindir, root, port, process, as_user)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited:\n{(root / 'server.log').read_text(errors='replace')}")
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True, timeout=10
        )
        if ready.returncode == 0:
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("postgres did not become ready")


def postgres_session() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
