"""Proportions with honest error bars: accuracy-like shares of items, each with a Wilson interval.

Benchmark slices are small and often sit at 0/n or n/n, where the normal interval leaves [0, 1];
every share the reports show goes through `wilson_ci`. Outcomes are per-item booleans (or 0/1).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from statsmodels.stats.proportion import proportion_confint

__all__ = ["Frozen", "Proportion", "accuracy", "bool_array", "proportion_of", "wilson_ci"]


class Frozen(BaseModel):
    """Base of every statistics result: immutable, and strict about fields, so reports cannot drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Proportion(Frozen):
    """k successes out of n with a Wilson interval; `value` and the bounds are NaN when n == 0."""

    k: int
    n: int
    value: float
    ci_low: float
    ci_high: float


def bool_array(x: ArrayLike, name: str) -> NDArray[np.bool_]:
    """Per-item outcomes as a 1-D boolean array; anything but booleans or 0/1 is a caller's bug."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype != np.bool_ and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans (or 0/1)")
    return arr.astype(bool)


def wilson_ci(correct: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for correct/n: unlike the normal interval it stays inside [0, 1] and
    behaves at 0/n and n/n, which benchmark slices hit often. n == 0 gives (nan, nan)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n < 0 or not 0 <= correct <= max(n, 0):
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(correct, n, alpha=alpha, method="wilson")
    # the interval holds correct/n, but statsmodels' rounding puts 7/7's upper bound (and 0/7's lower)
    # one ulp on the wrong side of it: a negative error bar, which matplotlib refuses
    p = correct / n
    return (min(float(low), p), max(float(high), p))


def proportion_of(k: int, n: int, alpha: float = 0.05) -> Proportion:
    """k out of n as a `Proportion` with its Wilson interval."""
    low, high = wilson_ci(k, n, alpha)
    return Proportion(k=k, n=n, value=k / n if n else math.nan, ci_low=low, ci_high=high)


def accuracy(correct: ArrayLike, alpha: float = 0.05) -> Proportion:
    """Share of items answered correctly, with a Wilson interval."""
    arr = bool_array(correct, "correct")
    return proportion_of(int(arr.sum()), int(arr.size), alpha)
