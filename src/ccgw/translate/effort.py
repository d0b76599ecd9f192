"""Client reasoning settings → the upstream's `reasoning_effort` (upstream-protocol.md §2.3).

The upstream takes `low|medium|high|xhigh|max` (a per-model subset) plus `off` for the DeepSeek V4
line, whose only levels are `off`, `high` and `max`. Values a model cannot take are moved to the
nearest one it can, rather than refused.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError

CLIENT_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra")
_DEEPSEEK = {"none": "off", "minimal": "off", "low": "high", "medium": "high", "high": "high", "xhigh": "max"}


def upstream_effort(model: str, effort: Any, param: str = "reasoning_effort") -> str | None:
    """The effort to send, or None to leave the model's default."""
    if effort is None:
        return None
    if not isinstance(effort, str) or effort.lower() not in (*CLIENT_EFFORTS, "off"):
        raise InvalidRequestError(f"{param}: must be one of {', '.join(CLIENT_EFFORTS)}", param=param)
    level: str = effort.lower()
    if level == "ultra":  # Codex offers it for OpenAI's newest models; nothing upstream goes higher than max
        level = "max"
    if model.lower().startswith("deepseek/deepseek-v4"):
        return _DEEPSEEK.get(level, level)
    if level in ("none", "minimal", "off"):
        return None  # no portable "off" elsewhere; the model's default applies
    return level


def effort_from_budget(budget_tokens: int) -> str:
    """Anthropic's thinking budget → an effort level."""
    if budget_tokens < 4096:
        return "low"
    if budget_tokens < 16384:
        return "medium"
    if budget_tokens < 32768:
        return "high"
    return "max"
