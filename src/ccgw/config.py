"""Settings: one frozen, typed model, loaded once at start-up and passed in.

The file format stays compatible with cmdcode2apipy's ``config.yaml`` (``api_key``,
``commandcode.api_key``, ``commandcode.base_url``, ``host``, ``port``, ``exclude_models``) and
adds ccgw's own keys. Unknown keys and wrong types stop start-up with one line naming the key
(:class:`ConfigError`); nothing here reads the environment at import time.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_BASE_URL = "https://api.commandcode.ai"
DEFAULT_CLI_VERSION = "1.79.1"

# What the Go plan cannot use (upstream-protocol.md §5): Claude and Gemini entirely, and the GPT
# models of the higher tiers. `gpt-5.6-luna` and `gpt-6-luna` are Go models, so no blanket `gpt-`.
GO_PLAN_EXCLUDES: tuple[str, ...] = (
    "claude-",
    "gemini-",
    "gpt-5.3",
    "gpt-5.4",
    "gpt-5.5",
    "gpt-5.6-sol",
    "gpt-5.6-terra",
    "gpt-6-sol",
    "gpt-6-astra",
    "gpt-6.1",
    "grok-4.6",
    "grok-4.7",
    "mimo-v2.6-pro-ultraspeed",
    "fugu-",
)

_ENV_KEYS = ("COMMANDCODE_API_KEY", "COMMAND_CODE_API_KEY")


class ConfigError(Exception):
    """A configuration problem, worded for a person: one line, naming the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalKey(_Frozen):
    """A key a local client presents to the gateway, with optional limits.

    The key is stored either as is (`key`) or only as its SHA-256 (`key_sha256`, what
    `python app.py keys add` writes, so the config file never holds the key itself).
    """

    name: str = Field(min_length=1, max_length=200)  # the ledger's `key` column
    key: str | None = Field(default=None, min_length=8)
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    models: tuple[str, ...] = ()  # allowed model ids (shell patterns, e.g. "deepseek/*"); empty = all
    rpm: int | None = Field(default=None, ge=1)
    requests_per_hour: int | None = Field(default=None, ge=1)
    requests_per_day: int | None = Field(default=None, ge=1)
    requests_per_month: int | None = Field(default=None, ge=1)
    budget_usd_per_day: float | None = Field(default=None, gt=0)
    budget_usd_per_month: float | None = Field(default=None, gt=0)
    admin: bool = False  # may read every key's per-request usage (`/v1/usage/{id}`, `/usage/recent`)

    @model_validator(mode="after")
    def _one_secret(self) -> LocalKey:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError(f"api_keys[{self.name}]: give exactly one of key and key_sha256")
        return self

    @property
    def digest(self) -> str:
        return self.key_sha256 or hashlib.sha256((self.key or "").encode()).hexdigest()


# Which upstream an account's requests take: the official Provider API where the plan has it (`auto`
# finds out), the CLI's endpoint (`/alpha/generate`) otherwise, or one of the two forced.
UpstreamMode = Literal["auto", "provider", "cli"]


class Account(_Frozen):
    """One Command Code account (its CLI key)."""

    name: str = Field(min_length=1, max_length=64)  # the ledger's `account` column
    api_key: str = Field(min_length=1)
    upstream: UpstreamMode = "auto"


class CommandCodeSettings(_Frozen):
    api_key: str | None = None
    upstream: UpstreamMode = "auto"  # the path of the single-key form's account ("default")
    accounts: tuple[Account, ...] = ()
    base_url: str = DEFAULT_BASE_URL
    cli_version: str = DEFAULT_CLI_VERSION
    zdr: bool = False  # zero data retention: `x-cmd-zdr: 1`, as the CLI sends when CMD_ZDR=1
    provider_check_interval: float = Field(default=86400.0, ge=1)  # seconds between `auto`'s checks

    def upstream_of(self, account: str) -> UpstreamMode:
        """The configured path of an account (by name; "default" is the single-key form's)."""
        configured = next((a.upstream for a in self.accounts if a.name == account), None)
        return configured or self.upstream

    @model_validator(mode="after")
    def _unique_account_names(self) -> CommandCodeSettings:
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError("commandcode.accounts: two accounts have the same name")
        return self

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class Timeouts(_Frozen):
    """Seconds. No cap on a stream's total length, only on silence (reasoning can be long)."""

    connect: float = Field(default=10.0, gt=0)
    first_event: float = Field(default=300.0, gt=0)
    idle: float = Field(default=300.0, gt=0)
    keepalive: float = Field(default=15.0, gt=0)


class Retries(_Frozen):
    """Retries of failures before the first byte reached the client (never after)."""

    attempts: int = Field(default=3, ge=1, le=10)
    max_seconds: float = Field(default=20.0, ge=0)
    max_wait: float = Field(default=10.0, ge=0)  # longest single wait for an account to recover
    backoff: float = Field(default=1.0, gt=0)  # first cooldown after a transient failure; doubles in a row


class ImageSettings(_Frozen):
    """Remote image fetching for `image_url` parts that are not data URLs."""

    fetch_remote: bool = True
    max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    timeout: float = Field(default=15.0, gt=0)
    allow_private: bool = False
    max_remote: int = Field(default=16, ge=0, le=10_000)  # remote image URLs per request; more get 400


class ServerSettings(_Frozen):
    """Limits of the HTTP server itself (see :mod:`ccgw.server`); none of them cuts a running stream."""

    max_connections: int = Field(default=2000, ge=1)  # open client connections; more get 503 and are closed
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)  # request line and headers; more get 431
    header_timeout: float = Field(default=10.0, gt=0)  # seconds to send the request line and headers
    keepalive_timeout: float = Field(default=15.0, gt=0)  # seconds an idle connection is kept between requests


LOOPBACK_NAMES = ("localhost",)

# Browser origins allowed by default: pages served from this machine, on any port.
LOCAL_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine only."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmbeddingsSettings(_Frozen):
    """Where `/v1/embeddings` goes: Command Code has no embedding models, so nowhere unless configured."""

    base_url: str | None = None  # an OpenAI-compatible API, e.g. Ollama's http://localhost:11435/v1
    api_key: str | None = None  # sent as a Bearer token, if the service wants one
    models: dict[str, str] = Field(default_factory=dict)  # names clients send → the service's model names
    timeout: float = Field(default=60.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class StorageSettings(_Frozen):
    """Where usage, limits and the reasoning memory live (README "Storage")."""

    url: str = ""  # empty: SQLite `usage.db` beside `usage_file`; or postgresql://user:password@host/db
    ledger_days: float = Field(default=90.0, gt=0)  # how long one row per request is kept (totals stay)
    commit_timeout: float = Field(default=10.0, gt=0)  # longest wait for a record's commit before answering
    default_price_usd_per_mtok: float = Field(default=20.0, gt=0)  # budget estimate before a model's cost is seen


class Settings(_Frozen):
    api_key: str | None = None
    api_keys: tuple[LocalKey, ...] = ()
    commandcode: CommandCodeSettings = CommandCodeSettings()
    host: str = "localhost"
    port: int = Field(default=11434, ge=1, le=65535)
    exclude_models: tuple[str, ...] = ()
    model_aliases: dict[str, str] = Field(default_factory=dict)
    usage_file: str = "usage.json"
    models_cache_ttl: float = Field(default=600.0, ge=0)
    max_tokens_default: int = Field(default=64000, ge=1, le=200000)
    usage_requires_key: bool = False
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    shutdown_grace: int = Field(default=30, ge=0)  # seconds in-flight requests get to finish on SIGTERM
    usage_flush_interval: float = Field(default=1.0, gt=0, le=60)
    plan_cache_ttl: float = Field(default=60.0, ge=5)
    timeouts: Timeouts = Timeouts()
    retries: Retries = Retries()
    images: ImageSettings = ImageSettings()
    embeddings: EmbeddingsSettings = EmbeddingsSettings()
    storage: StorageSettings = StorageSettings()
    server: ServerSettings = ServerSettings()
    cors_origins: tuple[str, ...] = LOCAL_ORIGINS
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides localhost, loopback and `host`; "*": any
    allow_unauthenticated: bool = False  # serve without any local key (only on a loopback address)
    docs: bool = False  # serve /docs (Swagger UI, whose script comes from a CDN)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @model_validator(mode="after")
    def _unique_key_names(self) -> Settings:
        names = [k.name for k in self.local_keys()]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"api_keys: duplicate name {duplicates[0]!r}")
        return self

    @model_validator(mode="after")
    def _open_only_on_loopback(self) -> Settings:
        if self.allow_unauthenticated and not is_loopback(self.host):
            raise ValueError(f"allow_unauthenticated: only allowed when host is a loopback address, not {self.host!r}")
        return self

    def local_keys(self) -> tuple[LocalKey, ...]:
        """Every accepted client key; the single `api_key` is named "default"."""
        # The single `api_key` is the owner's (the first run makes it): it sees every key's requests.
        single = (LocalKey(name="default", key=self.api_key, admin=True),) if self.api_key else ()
        return single + self.api_keys


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")


def expand_env(data: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """`data` with every `${VAR}` (or `${VAR:-default}`) in its strings replaced from `environ`.

    A variable that is not set and has no default is a :class:`ConfigError` naming the key: taken
    literally, `"${CCGW_API_KEY}"` would become a guessable key.
    """
    if isinstance(data, dict):
        return {k: expand_env(v, environ, f"{where}.{k}" if where else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, environ, f"{where}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        if name in environ:
            return environ[name]
        if match.group(2) is not None:
            return default or ""
        raise ConfigError(f"{where}: environment variable {name} is not set (write ${{{name}:-}} to allow empty)")

    return _VAR.sub(value, data)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    return f"{where}: {first['msg']}"


def parse_settings(data: Mapping[str, Any], *, source: str = "config") -> Settings:
    """Validate a mapping as :class:`Settings`; raise :class:`ConfigError` naming the bad key."""
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return data


def new_local_key() -> str:
    return "ccgw-" + secrets.token_urlsafe(24)


def first_run_config(local_key: str) -> str:
    """The YAML written when no config file exists (cmdcode2apipy's keys first)."""
    excludes = "\n".join(f'  - "{prefix}"' for prefix in GO_PLAN_EXCLUDES)
    return (
        "# ccgw configuration (generated on first run; see config.example.yaml for every key)\n"
        f'api_key: "{local_key}"\n'
        "commandcode:\n"
        "  # Your Command Code key (user_...). Leave empty to use COMMANDCODE_API_KEY\n"
        "  # or the CLI's login file ~/.commandcode/auth.json.\n"
        '  api_key: ""\n'
        f'  base_url: "{DEFAULT_BASE_URL}"\n'
        'host: "localhost"\n'
        "port: 11434\n"
        "# Model id prefixes hidden from /v1/models and refused; these are not in the Go plan.\n"
        f"exclude_models:\n{excludes}\n"
    )


def read_config(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config file as a mapping, `${VAR}` expanded (not yet validated)."""
    expanded: dict[str, Any] = expand_env(dict(_read_yaml(path)), os.environ if environ is None else environ)
    return expanded


def load_settings(
    path: Path, *, create: bool = True, overrides: Mapping[str, Any] | None = None
) -> tuple[Settings, str | None]:
    """Load settings from `path`, writing a first-run file if it is missing and `create` is set.

    `overrides` (command-line values) are validated with the file, like any key in it. Returns the
    settings and, on first run, the freshly generated local key (to print once).
    """
    generated: str | None = None
    if not path.exists() and create:
        generated = new_local_key()
        try:
            path.write_text(first_run_config(generated), encoding="utf-8")
            path.chmod(0o600)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write a first-run config ({exc.strerror or exc})") from None
    elif not path.exists():
        raise ConfigError(f"{path}: no such file (run without --config, or with --init, to create one)")
    try:
        data = read_config(path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    data.update(overrides or {})
    return parse_settings(data, source=str(path)), generated


def _usable(value: str | None, placeholder_names: tuple[str, ...] = _ENV_KEYS) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or value in placeholder_names or value.startswith("$"):
        return None
    return value


def _auth_file_key(home: Path) -> str | None:
    try:
        data = json.loads((home / ".commandcode" / "auth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _usable(data.get("apiKey")) if isinstance(data, dict) else None


def resolve_accounts(
    settings: Settings, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> tuple[list[tuple[str, str]], str]:
    """Every (name, key) to use upstream, and where they came from.

    `commandcode.accounts` wins; `commandcode.api_key` (or the environment, or the CLI's login
    file) is one account named "default".
    """
    accounts = [(a.name, a.api_key) for a in settings.commandcode.accounts]
    key, source = resolve_upstream_key(settings, environ, home)
    if key and key not in {k for _, k in accounts} and "default" not in {n for n, _ in accounts}:
        accounts.insert(0, ("default", key))
    if settings.commandcode.accounts:
        source = f"config ({len(accounts)} accounts)"
    return accounts, source


def resolve_upstream_key(
    settings: Settings, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> tuple[str | None, str]:
    """The Command Code key and where it came from: config, environment, then the CLI's login file."""
    environ = os.environ if environ is None else environ
    key = _usable(settings.commandcode.api_key)
    if key:
        return key, "config"
    for name in _ENV_KEYS:
        key = _usable(environ.get(name))
        if key:
            return key, f"environment ({name})"
    key = _auth_file_key(Path.home() if home is None else home)
    if key:
        return key, "~/.commandcode/auth.json"
    return None, "none"


def announce_first_run(path: Path, settings: Settings, key: str) -> None:
    print(f"ccgw: first run, wrote {path} with a new local API key (shown once):\n\n    {key}\n")
    print(f"ccgw: clients use base URL http://{settings.host}:{settings.port}/v1 with that key\n", flush=True)


def fail(message: str) -> None:
    """Stop start-up with one clear line and no traceback."""
    print(f"ccgw: {message}", file=sys.stderr)
    raise SystemExit(2)
