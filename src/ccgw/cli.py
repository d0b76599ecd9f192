"""Command line: start the gateway (first run writes config.yaml and prints the new local key),
or manage local keys (`keys add|list|revoke`)."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ccgw import keys_cli, server, storage
from ccgw.application import create_app
from ccgw.auth import NO_KEY_HELP
from ccgw.config import (
    ConfigError,
    Settings,
    announce_first_run,
    fail,
    load_settings,
    parse_settings,
    resolve_accounts,
)

log = logging.getLogger("ccgw")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description="ccgw: Command Code as OpenAI/Anthropic APIs")
    config_help = "config file (default: config.yaml, written with a new local key on the first run)"
    parser.add_argument("--config", type=Path, default=None, help=config_help)
    parser.add_argument("--init", action="store_true", help="write --config with a new local key if it does not exist")
    parser.add_argument("--host", help="listen address (default: from config, else localhost)")
    parser.add_argument("--port", type=int, help="listen port (default: from config, else 11434)")
    commands = parser.add_subparsers(dest="command")
    keys = commands.add_parser("keys", help="manage local client keys")
    keys.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    keys_cli.add_arguments(keys)
    return parser


def _load(path: Path, host: str | None = None, port: int | None = None, *, create: bool = True) -> Settings:
    """The settings, with `--host`/`--port` validated like the file's values and applied before
    the first-run note shows the base URL. A missing file is created only when `create` is set."""
    try:
        settings, generated = load_settings(path, create=create)
        overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        if overrides:
            settings = parse_settings({**settings.model_dump(), **overrides}, source="command line")
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
    if generated:
        announce_first_run(path, settings, generated)
    return settings


def warn_if_closed(settings: Settings) -> None:
    """Say loudly, at start-up, that a gateway without local keys refuses every request."""
    if settings.local_keys():
        return
    if settings.allow_unauthenticated:
        log.warning("no local api_key and allow_unauthenticated: anything on this machine can use the gateway")
        return
    print(f"ccgw: WARNING: {NO_KEY_HELP}.", file=sys.stderr, flush=True)
    log.warning("no local api_key configured: every model and usage-detail request gets 401 until one is added")


def build_app(path: Path, settings: Settings | None = None) -> FastAPI:
    settings = settings or _load(path)
    accounts, source = resolve_accounts(settings)
    if accounts:
        log.info("Command Code key(s) from %s", source)
    else:
        log.warning(
            "no Command Code API key (config commandcode.api_key, COMMANDCODE_API_KEY or "
            "~/.commandcode/auth.json); model requests will fail until one is set"
        )
    warn_if_closed(settings)
    base = path.parent if path.parent != Path("") else Path(".")
    usage_path = Path(settings.usage_file)
    if not usage_path.is_absolute():
        usage_path = base / usage_path
    try:  # the database's start-up problems as one line, before serving
        storage.check(settings.storage, usage_path.absolute())
    except storage.StorageStartError as exc:
        fail(str(exc))
    return create_app(settings, accounts=accounts, usage_path=usage_path, config_path=path)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # A new config (with a new key) is written only for the default path, or when asked: a mistyped
    # --config must not silently start a gateway with a fresh key.
    path = args.config or Path("config.yaml")
    create = args.config is None or args.init
    if args.command == "keys":
        try:
            return keys_cli.run(path, args, create=create)
        except ConfigError as exc:
            fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every upstream request at INFO: one line per call is noise here, and costs time.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = _load(path, args.host, args.port, create=create)
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        sock = server.listen(settings.host, settings.port)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
    app = build_app(path, settings)
    # Long-lived start-up objects move out of the collector's way, and it runs less often: a relayed
    # event allocates a few short-lived containers, which reference counting frees anyway.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    log.info("ccgw listening on http://%s:%d/v1", settings.host, settings.port)
    # uvicorn re-raises the signal it stopped on; for SIGTERM Python's default would then end the
    # process with -15 after a clean shutdown. As KeyboardInterrupt it is caught and we exit 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server.serve(app, settings, sock)
    return 0
