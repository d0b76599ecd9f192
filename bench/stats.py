"""Percentiles and the side-by-side summary of ABAB rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (`q` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def spread(values: Sequence[float]) -> list[float]:
    """[p25, p75] of per-round values: how much the rounds disagreed."""
    finite = [v for v in values if not math.isnan(v)]
    return [percentile(finite, 25), percentile(finite, 75)]


def paired(direct: Sequence[float], proxied: Sequence[float]) -> dict[str, Any]:
    """Per-round values of both sides → medians, the median of per-round differences and ratios."""
    diffs = [b - a for a, b in zip(direct, proxied, strict=True)]
    ratios = [b / a if a else math.nan for a, b in zip(direct, proxied, strict=True)]
    return {
        "direct": median(direct),
        "proxied": median(proxied),
        "added": median(diffs),
        "added_iqr": spread(diffs),
        "ratio": median(ratios),
        "rounds": len(diffs),
    }


def ms(seconds: float) -> float:
    return seconds * 1000.0
