"""Tests of paired outcomes: exact McNemar, Holm's adjustment and a paired bootstrap of A − B.

Every system answers the same items, so A and B are compared item by item: McNemar conditions on
the discordant items and the bootstrap resamples items (not systems), keeping the item-difficulty
correlation out of the error bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests

from orch.eval.proportions import Frozen, bool_array

__all__ = ["Comparison", "McNemar", "compare_all", "holm", "mcnemar_exact", "paired_bootstrap_diff_ci"]


class McNemar(Frozen):
    """Paired A-vs-B outcome: only the discordant items (b, c) carry information about A − B.

    `b` = A right & B wrong, `c` = A wrong & B right, `diff` = (b − c) / n = acc(A) − acc(B)
    (NaN when n == 0), `p_value` = exact two-sided binomial test of b ~ Bin(b + c, 1/2).
    """

    n: int
    b: int
    c: int
    n_discordant: int
    diff: float
    p_value: float


class Comparison(Frozen):
    """One (target, baseline) row of `compare_all`; `p_holm` is adjusted across all rows returned."""

    target: str
    baseline: str
    n: int
    target_accuracy: float
    baseline_accuracy: float
    b: int
    c: int
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    aa, bb = bool_array(a, "a_correct"), bool_array(b, "b_correct")
    if aa.shape != bb.shape:
        raise ValueError(f"paired outcomes must have equal length, got {aa.size} and {bb.size}")
    return aa, bb


def mcnemar_exact(a_correct: ArrayLike, b_correct: ArrayLike) -> McNemar:
    """Exact McNemar test of A vs B on the same items.

    Items both systems get right or wrong say nothing about which is better; the test conditions
    on the b + c discordant items. With b = c = 0 there is no evidence either way: p = 1.0.
    """
    a, b_ = _paired(a_correct, b_correct)
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    n = int(a.size)
    if b + c == 0:
        p = 1.0
    else:
        table = [[int(np.sum(a & b_)), b], [c, int(np.sum(~a & ~b_))]]
        p = float(_sm_mcnemar(table, exact=True).pvalue)
    return McNemar(n=n, b=b, c=c, n_discordant=b + c, diff=(b - c) / n if n else math.nan, p_value=p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values: controls the family-wise error rate when one report
    claims several system-vs-baseline wins at once, without Bonferroni's full cost."""
    if len(pvalues) == 0:
        return []
    _, adjusted, _, _ = multipletests(np.asarray(pvalues, dtype=float), method="holm")
    return [float(p) for p in adjusted]


def paired_bootstrap_diff_ci(
    a_correct: ArrayLike,
    b_correct: ArrayLike,
    n_resamples: int = 10_000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of acc(A) − acc(B), resampling items so each pair stays together.

    Pairing is what makes the interval honest: both systems see the same easy and hard items.
    Percentile rather than BCa because per-item differences take only the values −1, 0, 1 and BCa's
    jackknife acceleration degenerates to NaN on such near-constant data. When every pair has the
    same difference d (including n == 1) the bootstrap distribution is a point, so (d, d) is
    returned without resampling; n == 0 gives (nan, nan). Deterministic for a given seed.
    """
    a, b = _paired(a_correct, b_correct)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    if a.size == 0:
        return (math.nan, math.nan)
    d = a.astype(float) - b.astype(float)
    if np.all(d == d[0]):
        return (float(d[0]), float(d[0]))

    def mean_diff(x: NDArray[np.float64], y: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    res = sps.bootstrap(
        (a.astype(float), b.astype(float)),
        mean_diff,
        n_resamples=n_resamples,
        # bound memory: scipy materialises batch x n resampled indices per step
        batch=max(1, min(n_resamples, 2_000_000 // a.size)),
        vectorized=True,
        paired=True,
        confidence_level=1 - alpha,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def compare_all(
    systems: Mapping[str, ArrayLike],
    baselines: Sequence[str],
    targets: Sequence[str],
    *,
    n_resamples: int = 10_000,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[Comparison]:
    """Every target against every baseline (target-major order), Holm-adjusted as one family.

    Reporting several wins at once inflates false positives, so `p_holm` adjusts across all rows
    returned. A pair naming the same system twice is skipped (it would only add a p = 1 row).
    """
    missing = [name for name in (*targets, *baselines) if name not in systems]
    if missing:
        raise ValueError(f"unknown systems: {sorted(set(missing))}")
    rows: list[Comparison] = []
    for target, baseline in product(targets, baselines):
        if target == baseline:
            continue
        t, bl = _paired(systems[target], systems[baseline])
        test = mcnemar_exact(t, bl)
        low, high = paired_bootstrap_diff_ci(t, bl, n_resamples=n_resamples, alpha=alpha, seed=seed)
        rows.append(
            Comparison(
                target=target,
                baseline=baseline,
                n=test.n,
                target_accuracy=float(t.mean()) if t.size else math.nan,
                baseline_accuracy=float(bl.mean()) if bl.size else math.nan,
                b=test.b,
                c=test.c,
                diff=test.diff,
                ci_low=low,
                ci_high=high,
                p_value=test.p_value,
                p_holm=math.nan,  # filled in once the whole family is known
            )
        )
    adjusted = holm([r.p_value for r in rows])
    return [r.model_copy(update={"p_holm": p}) for r, p in zip(rows, adjusted, strict=True)]
