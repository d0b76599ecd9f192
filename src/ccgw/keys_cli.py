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
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ccgw.config import ConfigError, announce_first_run, load_settings, new_local_key, parse_settings
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


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _load(path: Path) -> CommentedMap:
    settings, generated = load_settings(path)  # validates, and writes a first-run file if there is none
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
    parse_settings(_yaml().load(text), source=str(path))  # never write a file the gateway would refuse
    write_atomic(path, text.encode())
    path.chmod(0o600)


def _names(document: CommentedMap) -> list[str]:
    names = [str(entry.get("name")) for entry in document.get("api_keys") or []]
    return (["default"] if document.get("api_key") else []) + names


def add(path: Path, args: argparse.Namespace) -> str:
    document = _load(path)
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


def revoke(path: Path, name: str) -> None:
    document = _load(path)
    if name == "default" and document.get("api_key"):
        del document["api_key"]
    else:
        keys = document.get("api_keys") or []
        kept = [entry for entry in keys if entry.get("name") != name]
        if len(kept) == len(keys):
            raise ConfigError(f"no key named {name!r} (see: python app.py keys list)")
        keys[:] = kept
    _save(path, document)


def listing(path: Path) -> list[dict[str, Any]]:
    settings, generated = load_settings(path)
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


def run(path: Path, args: argparse.Namespace) -> int:
    if args.keys_command == "add":
        key = add(path, args)
        print(f"Added key {args.name!r} to {path}. It is shown only now; the file keeps its SHA-256:\n\n    {key}\n")
    elif args.keys_command == "revoke":
        revoke(path, args.name)
        print(f"Revoked key {args.name!r}; a running gateway refuses it within a second.")
    else:
        rows = listing(path)
        if not rows:
            print("No local keys: any client that can reach the gateway may use it.")
        for row in rows:
            limits = ", ".join(f"{k}={v}" for k, v in row["limits"].items()) or "no limits"
            print(
                f"{row['name']:<20} {row['stored']:<14} models={','.join(row['models'])} {limits}; "
                f"{row['requests']} requests, {row['tokens']} tokens, ${row['cost_usd']}"
            )
    return 0
