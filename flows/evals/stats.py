"""Bootstrap confidence intervals over suite items (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int

    def overlaps(self, other: Estimate) -> bool:
        return self.ci_low <= other.ci_high and other.ci_low <= self.ci_high

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


def bootstrap_mean(
    values: Sequence[float], resamples: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL
) -> Estimate:
    """The mean and its percentile bootstrap interval: items drawn with replacement, `resamples` times.

    Seeded, so the same values always give the same interval. One item: a zero-width interval; none: NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Estimate(float(x.mean()), float(low), float(high), int(x.size))


def bootstrap_delta(after: Sequence[float], before: Sequence[float], **kwargs: float) -> Estimate:
    """after - before, paired by item: the interval of the mean per-item difference."""
    a, b = np.asarray(after, dtype=np.float64), np.asarray(before, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.size} vs {b.size}")
    return bootstrap_mean(a - b, **kwargs)  # type: ignore[arg-type]
