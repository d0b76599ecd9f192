"""Settings: cmdcode2apipy compatibility, first run, one-line errors, and where the upstream key comes from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ccgw.catalog import excluded
from ccgw.config import GO_PLAN_EXCLUDES, ConfigError, load_settings, parse_settings, resolve_upstream_key

ROOT = Path(__file__).resolve().parent.parent

CMDCODE2APIPY = """
api_key: "ccgw-your-local-client-key"
commandcode:
  api_key: "your-command-code-api-key"
  base_url: "https://api.commandcode.ai"
host: "localhost"
port: 11434
exclude_models:
  - "gpt-"
  - "claude-"
  - "gemini-"
"""


def test_cmdcode2apipy_config_file_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CMDCODE2APIPY)
    settings, generated = load_settings(path)
    assert generated is None
    assert settings.local_keys()[0].key == "ccgw-your-local-client-key"
    assert settings.commandcode.base_url == "https://api.commandcode.ai"
    assert settings.exclude_models == ("gpt-", "claude-", "gemini-")
    assert settings.usage_file == "usage.json"


def test_first_run_writes_config_with_fresh_key_and_go_excludes(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    settings, generated = load_settings(path)
    assert generated is not None
    assert generated.startswith("ccgw-")
    assert len(generated) > 30
    assert settings.api_key == generated
    assert path.stat().st_mode & 0o077 == 0
    assert set(yaml.safe_load(path.read_text())["exclude_models"]) == set(GO_PLAN_EXCLUDES)
    _, again = load_settings(path)
    assert again is None


def test_go_plan_excludes_keep_go_models_visible() -> None:
    go = ["gpt-5.6-luna", "gpt-6-luna", "deepseek/deepseek-v4-pro", "xiaomi/mimo-v2.6-pro", "xai/grok-4.5"]
    above = ["gpt-5.5", "gpt-5.6-sol", "gpt-6-sol", "claude-sonnet-4-6", "google/gemini-3.7-flash", "xai/grok-4.6"]
    assert not any(excluded(m, GO_PLAN_EXCLUDES) for m in go)
    assert all(excluded(m, GO_PLAN_EXCLUDES) for m in above)


def test_api_keys_list_with_names() -> None:
    settings = parse_settings(
        {"api_keys": [{"name": "ide", "key": "ccgw-aaaaaaaaaa"}, {"name": "cli", "key": "ccgw-bbbbbbbbbb"}]}
    )
    assert [k.name for k in settings.local_keys()] == ["ide", "cli"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"comandcode": {}}, "unknown key 'comandcode'"),
        ({"port": "eleven"}, "port: "),
        ({"commandcode": {"base_url": "api.commandcode.ai"}}, "commandcode.base_url"),
        ({"commandcode": {"apikey": "x"}}, "unknown key 'commandcode.apikey'"),
        (
            {"api_keys": [{"name": "a", "key": "ccgw-aaaaaaaa"}, {"name": "a", "key": "ccgw-bbbbbbbb"}]},
            "duplicate name",
        ),
        ({"commandcode": {"accounts": [{"name": "n" * 65, "api_key": "user_x"}]}}, "commandcode.accounts.0.name"),
        ({"api_keys": [{"name": "n" * 201, "key": "ccgw-aaaaaaaa"}]}, "api_keys.0.name"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, source="config.yaml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text("api_key: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(folder)


def test_start_with_bad_config_exits_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("prot: 1\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"ccgw: {path}: unknown key 'prot'"


def test_upstream_key_order_config_env_auth_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".commandcode").mkdir(parents=True)
    (home / ".commandcode" / "auth.json").write_text(json.dumps({"apiKey": "user_from_file"}))
    with_key = parse_settings({"commandcode": {"api_key": "user_from_config"}})
    without = parse_settings({"commandcode": {"api_key": ""}})
    assert resolve_upstream_key(with_key, {"COMMANDCODE_API_KEY": "user_env"}, home)[0] == "user_from_config"
    assert resolve_upstream_key(without, {"COMMAND_CODE_API_KEY": "user_env2"}, home) == (
        "user_env2",
        "environment (COMMAND_CODE_API_KEY)",
    )
    assert resolve_upstream_key(without, {"COMMANDCODE_API_KEY": "COMMANDCODE_API_KEY"}, home)[0] == "user_from_file"
    assert resolve_upstream_key(without, {}, tmp_path / "nobody") == (None, "none")


def test_config_example_documents_every_key_and_parses() -> None:
    from ccgw.config import Settings

    text = (ROOT / "config.example.yaml").read_text()
    settings, _ = load_settings(ROOT / "config.example.yaml", create=False)
    assert settings.port == 11434
    for name in Settings.model_fields:
        assert f"{name}:" in text, name
    for section in ("commandcode", "timeouts", "images", "retries", "server"):
        model = type(getattr(settings, section))
        for name in model.model_fields:
            assert f"{name}:" in text, f"{section}.{name}"


def test_first_run_note_shows_the_address_it_will_listen_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ccgw import cli

    settings = cli._load(tmp_path / "config.yaml", "127.0.0.1", 11555)
    assert (settings.host, settings.port) == ("127.0.0.1", 11555)
    assert "http://127.0.0.1:11555/v1" in capsys.readouterr().out
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()).get("port", 11434) == 11434  # flags: this run only
