"""Command line: start the gateway (first run writes config.yaml and prints the new local key),
or manage local keys (`keys add|list|revoke`)."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ccgw import keys_cli, storage
from ccgw.application import create_app
from ccgw.config import ConfigError, Settings, announce_first_run, fail, load_settings, resolve_accounts

log = logging.getLogger("ccgw")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description="ccgw: Command Code as OpenAI/Anthropic APIs")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"), help="config file (default: config.yaml)")
    parser.add_argument("--host", help="listen address (default: from config, else localhost)")
    parser.add_argument("--port", type=int, help="listen port (default: from config, else 11434)")
    commands = parser.add_subparsers(dest="command")
    keys = commands.add_parser("keys", help="manage local client keys")
    keys.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="config file (default: config.yaml)")
    keys_cli.add_arguments(keys)
    return parser


def _load(path: Path, host: str | None = None, port: int | None = None) -> Settings:
    """The settings, with `--host`/`--port` applied before the first-run note shows the base URL."""
    try:
        settings, generated = load_settings(path)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable: fail() exits
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v}
    if overrides:
        settings = settings.model_copy(update=overrides)
    if generated:
        announce_first_run(path, settings, generated)
    return settings


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
    if not settings.local_keys():
        log.warning("no local api_key configured: any client that can reach this port can use the gateway")
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
    if args.command == "keys":
        try:
            return keys_cli.run(args.config, args)
        except ConfigError as exc:
            fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every upstream request at INFO: one line per call is noise here, and costs time.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = _load(args.config, args.host, args.port)
    logging.getLogger().setLevel(settings.log_level.upper())
    app = build_app(args.config, settings)
    # Long-lived start-up objects move out of the collector's way, and it runs less often: a relayed
    # event allocates a few short-lived containers, which reference counting frees anyway.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    log.info("ccgw listening on http://%s:%d/v1", settings.host, settings.port)
    # uvicorn re-raises the signal it stopped on; for SIGTERM Python's default would then end the
    # process with -15 after a clean shutdown. As KeyboardInterrupt it is caught and we exit 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    return 0
