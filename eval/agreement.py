"""How alike the agents' mistakes are: pairwise Cohen's κ on correctness and the error correlation.

An ensemble can only gain where its members err on different items. Two agents that are wrong on
the same items (κ near 1) add nothing to each other; a weak agent whose errors are unrelated to a
strong one's (κ near 0) may help a weighted decision but drowns the strong one in an unweighted
vote. Inputs are per-item correctness vectors of the agents on the same items (the report uses the
single:* systems: each agent answering every item directly, the same prompt for all).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from orch.eval.proportions import Frozen, bool_array

__all__ = ["AgentAgreement", "cohen_kappa", "error_correlation", "kappa_bootstrap_ci", "pairwise_agreement"]


class AgentAgreement(Frozen):
    """Two agents on the same `n` items.

    `both_wrong`: items neither answered correctly. `kappa`: Cohen's κ of the two correctness
    vectors, with a paired percentile-bootstrap interval (`kappa_ci_low`/`kappa_ci_high`).
    `error_correlation`: Pearson (φ) correlation of the two error indicators, NaN when an agent is
    right on every item or on none. κ is then 0, and NaN only when both are constant alike (chance
    agreement is certain).
    """

    agent_a: str
    agent_b: str
    n: int
    both_wrong: int
    kappa: float
    kappa_ci_low: float
    kappa_ci_high: float
    error_correlation: float


def _kappa_of_counts(n: NDArray[np.int64], a: NDArray[np.int64], b: NDArray[np.int64], ab: NDArray[np.int64]):
    """κ = (p_o − p_e) / (1 − p_e) from counts (vectorised over resamples): a, b = items each got
    right, ab = both right; NaN where chance agreement p_e is 1."""
    observed = (ab + (n - a - b + ab)) / n
    expected = (a * b + (n - a) * (n - b)) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    return np.where(expected < 1, kappa, np.nan)


def cohen_kappa(a_correct: ArrayLike, b_correct: ArrayLike) -> float:
    """Cohen's κ of two correctness vectors: 1 identical, 0 as alike as chance, < 0 complementary."""
    a, b = bool_array(a_correct, "a_correct"), bool_array(b_correct, "b_correct")
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must have equal length, got {a.size} and {b.size}")
    if a.size == 0:
        return math.nan
    n = np.int64(a.size)
    return float(_kappa_of_counts(n, np.int64(a.sum()), np.int64(b.sum()), np.int64((a & b).sum())))


def error_correlation(a_correct: ArrayLike, b_correct: ArrayLike) -> float:
    """φ: Pearson correlation of the error indicators (equal to that of the correctness vectors)."""
    a, b = bool_array(a_correct, "a_correct").astype(float), bool_array(b_correct, "b_correct").astype(float)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must have equal length, got {a.size} and {b.size}")
    if a.size == 0 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def kappa_bootstrap_ci(
    a_correct: ArrayLike, b_correct: ArrayLike, n_resamples: int = 10_000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of κ, resampling items so each pair stays together.

    Like the report's other paired intervals, and unlike the asymptotic (Fleiss) one it does not
    assume κ is normal near ±1, where its sampling distribution is skewed. Identical (or exactly
    complementary) vectors give the same κ in every resample: a point interval, since the sample
    holds no disagreement to resample. Resamples where κ is undefined (an agent constant in the
    resample) are left out; with none left the interval is (nan, nan). Deterministic for a seed.
    """
    a, b = bool_array(a_correct, "a_correct"), bool_array(b_correct, "b_correct")
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must have equal length, got {a.size} and {b.size}")
    if a.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    n, chunk, kappas = a.size, max(1, 2_000_000 // a.size), []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        ra, rb = a[idx], b[idx]
        kappas.append(_kappa_of_counts(np.int64(n), ra.sum(axis=1), rb.sum(axis=1), (ra & rb).sum(axis=1)))
    values = np.concatenate(kappas)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return (float(low), float(high))


def pairwise_agreement(outcomes: Mapping[str, ArrayLike], *, n_resamples: int = 10_000) -> list[AgentAgreement]:
    """Every pair of agents (in the mapping's order) with κ, its interval and the error correlation."""
    rows = []
    for (name_a, a), (name_b, b) in combinations(outcomes.items(), 2):
        aa, bb = bool_array(a, name_a), bool_array(b, name_b)
        low, high = kappa_bootstrap_ci(aa, bb, n_resamples=n_resamples)
        rows.append(
            AgentAgreement(
                agent_a=name_a,
                agent_b=name_b,
                n=int(aa.size),
                both_wrong=int(np.sum(~aa & ~bb)),
                kappa=cohen_kappa(aa, bb),
                kappa_ci_low=low,
                kappa_ci_high=high,
                error_correlation=error_correlation(aa, bb),
            )
        )
    return rows
