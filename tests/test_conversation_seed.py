"""A conversation's seed (its upstream thread id) is the same whether its request was big or small."""

from __future__ import annotations

from typing import Any

import pytest

from ccgw.gateway import _conversation_seed


@pytest.mark.parametrize(
    "params",
    [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "system": "be brief"},
        {"model": "m", "messages": [{"role": "user", "content": "x" * 10_000}], "system": "y" * 9_000},
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "é" * 3000}] * 5}],
            "system": [{"type": "text", "text": "s" * 5000, "cache_control": {"type": "ephemeral"}}],
        },
        {"model": "m", "messages": []},
    ],
)
def test_conversation_seed_large_and_small_paths_agree(params: dict[str, Any]) -> None:
    assert _conversation_seed("key", params, large=True) == _conversation_seed("key", params, large=False)


def test_conversation_seed_differs_by_first_message_and_key() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    other = {"model": "m", "messages": [{"role": "user", "content": "ho"}]}
    assert _conversation_seed("key", base) != _conversation_seed("key", other)
    assert _conversation_seed("key", base) != _conversation_seed("other", base)
