"""Statistics the benchmarks share."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def paired_ratio(values: Iterable[float], baseline: Iterable[float]) -> float:
    """The median of each round's own ratio: a slow moment of the machine hits both sides."""
    return statistics.median(v / b for v, b in zip(values, baseline, strict=True))
