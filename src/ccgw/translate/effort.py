"""Client reasoning settings → the `reasoning_effort` the CLI would send (upstream-protocol.md §11).

The CLI sends an effort only when the user chose one, and only a level the model has (its table:
DeepSeek V4 Pro/Flash `high`/`max`, Qwen3.8 `low`/`medium`/`xhigh`, Kimi-K2.6 none, ...). ccgw does
the same: no effort unless the client asked for one; the client's level moved to the nearest level
the model has (ties go to the higher one); nothing for models without levels, and nothing for "no
reasoning" (`none`/`off`), which CLI 1.64.0 has no level for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ccgw.cli_models import EFFORT_SCALE
from ccgw.errors import InvalidRequestError

CLIENT_EFFORTS = ("none", *EFFORT_SCALE, "ultra")
_OFF = ("none", "off")


def upstream_effort(levels: Sequence[str], effort: Any, param: str = "reasoning_effort") -> str | None:
    """The effort to send for a model with `levels`, or None to send none."""
    if effort is None:
        return None
    if not isinstance(effort, str) or effort.lower() not in (*CLIENT_EFFORTS, "off"):
        raise InvalidRequestError(f"{param}: must be one of {', '.join(CLIENT_EFFORTS)}", param=param)
    wanted = effort.lower()
    if wanted == "ultra":  # Codex offers it for OpenAI's newest models; nothing upstream goes higher than max
        wanted = "max"
    known = [level for level in levels if level in EFFORT_SCALE]
    if wanted in _OFF or not known:
        return None
    rank = EFFORT_SCALE.index(wanted)
    return min(known, key=lambda level: (abs(EFFORT_SCALE.index(level) - rank), -EFFORT_SCALE.index(level)))


def effort_from_budget(budget_tokens: int) -> str:
    """Anthropic's thinking budget → an effort level."""
    if budget_tokens < 4096:
        return "low"
    if budget_tokens < 16384:
        return "medium"
    if budget_tokens < 32768:
        return "high"
    return "max"
