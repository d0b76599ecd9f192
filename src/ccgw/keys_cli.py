"""`python app.py keys add|list|revoke`: manage local client keys in config.yaml.

The file is edited with ruamel.yaml, which keeps the user's comments and layout (PyYAML would drop
them). A new key is stored only as its SHA-256 and printed once. A running gateway notices the
change within a second (see :mod:`ccgw.auth`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ccgw.config import ConfigError, announce_first_run, expand_env, load_settings, new_local_key, parse_settings
from ccgw.storage.files import write_atomic

LIMIT_OPTIONS = (
    ("rpm", int),
    ("requests_per_hour", int),
    ("requests_per_day", int),
    ("requests_per_month", int),
    ("budget_usd_per_day", float),
    ("budget_usd_per_month", float),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="keys_command", required=True)
    add = commands.add_parser("add", help="create a key, store its hash in the config and print it once")
    add.add_argument("name")
    add.add_argument("--models", nargs="+", metavar="PATTERN", help="allowed model ids (shell patterns)")
    for option, kind in LIMIT_OPTIONS:
        add.add_argument(f"--{option.replace('_', '-')}", dest=option, type=kind)
    commands.add_parser("list", help="names, limits and usage of the local keys (never the keys)")
    revoke = commands.add_parser("revoke", help="remove a key")
    revoke.add_argument("name")
    revoke.add_argument("--force", action="store_true", help="also revoke the last key (the gateway then refuses all)")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(path: Path, create: bool = True) -> CommentedMap:
    settings, generated = load_settings(path, create=create)  # validates; a first-run file if asked
    if generated:
        announce_first_run(path, settings, generated)
    document = _yaml().load(path.read_text(encoding="utf-8")) or CommentedMap()
    if not isinstance(document, CommentedMap):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return document


def _save(path: Path, document: CommentedMap) -> None:
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    text = buffer.getvalue()
    # Never write a file the gateway would refuse (${VAR} expanded as the gateway will).
    parse_settings(expand_env(_yaml().load(text), os.environ), source=str(path))
    write_atomic(path, text.encode())
    path.chmod(0o600)


def _names(document: CommentedMap) -> list[str]:
    names = [str(entry.get("name")) for entry in document.get("api_keys") or []]
    return (["default"] if document.get("api_key") else []) + names


def add(path: Path, args: argparse.Namespace, create: bool = True) -> str:
    document = _load(path, create)
    if args.name in _names(document):
        raise ConfigError(f"a key named {args.name!r} already exists; revoke it first or pick another name")
    key = new_local_key()
    entry = CommentedMap(name=args.name, key_sha256=hashlib.sha256(key.encode()).hexdigest())
    if args.models:
        entry["models"] = list(args.models)
    for option, _ in LIMIT_OPTIONS:
        if getattr(args, option) is not None:
            entry[option] = getattr(args, option)
    keys = document.get("api_keys")
    if not isinstance(keys, CommentedSeq):
        keys = CommentedSeq()
        document["api_keys"] = keys
    keys.append(entry)
    _save(path, document)
    return key


def revoke(path: Path, name: str, *, force: bool = False, create: bool = True) -> None:
    document = _load(path, create)
    if name not in _names(document):
        raise ConfigError(f"no key named {name!r} (see: python app.py keys list)")
    if _names(document) == [name] and not force:
        raise ConfigError(
            f"{name!r} is the last local key: without one the gateway refuses every request. "
            "Add another first (keys add NAME), or pass --force"
        )
    if name == "default" and document.get("api_key"):
        del document["api_key"]
    else:
        keys = document.get("api_keys") or []
        keys[:] = [entry for entry in keys if entry.get("name") != name]
    _save(path, document)


def listing(path: Path, create: bool = True) -> list[dict[str, Any]]:
    settings, generated = load_settings(path, create=create)
    if generated:
        announce_first_run(path, settings, generated)
    usage_path = Path(settings.usage_file)
    if not usage_path.is_absolute():
        usage_path = path.parent / usage_path
    try:
        by_key = json.loads(usage_path.read_text()).get("by_key", {})
    except (OSError, ValueError):
        by_key = {}
    rows = []
    for key in settings.local_keys():
        used = by_key.get(key.name, {})
        limits = {o: getattr(key, o) for o, _ in LIMIT_OPTIONS if getattr(key, o) is not None}
        rows.append(
            {
                "name": key.name,
                "stored": "sha256 only" if key.key is None else f"{key.key[:9]}…",
                "models": list(key.models) or ["*"],
                "limits": limits,
                "requests": used.get("total_requests", 0),
                "tokens": used.get("prompt_tokens", 0) + used.get("completion_tokens", 0),
                "cost_usd": round(used.get("cost_micro", 0) / 1_000_000, 4),
            }
        )
    return rows


def run(path: Path, args: argparse.Namespace, *, create: bool = True) -> int:
    if args.keys_command == "add":
        key = add(path, args, create)
        print(f"Added key {args.name!r} to {path}. It is shown only now; the file keeps its SHA-256:\n\n    {key}\n")
    elif args.keys_command == "revoke":
        revoke(path, args.name, force=args.force, create=create)
        print(f"Revoked key {args.name!r}; a running gateway refuses it within a second.")
    else:
        rows = listing(path, create)
        if not rows:
            print("No local keys: the gateway refuses every request until one is added (keys add NAME).")
        for row in rows:
            limits = ", ".join(f"{k}={v}" for k, v in row["limits"].items()) or "no limits"
            print(
                f"{row['name']:<20} {row['stored']:<14} models={','.join(row['models'])} {limits}; "
                f"{row['requests']} requests, {row['tokens']} tokens, ${row['cost_usd']}"
            )
    return 0
