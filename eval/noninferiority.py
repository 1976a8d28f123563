"""Non-inferiority of a target against a baseline on paired per-item correctness: Tango's score test.

"Is the ensemble at least about as good as the best single agent?" is a non-inferiority question:
H0: acc(T) − acc(B) ≤ −δ against H1: acc(T) − acc(B) > −δ for a margin δ (default 3 points). McNemar
cannot answer it (it tests Δ = 0), and an unpaired two-proportion test would ignore that both systems
answer the same items, overstating the variance by the item-difficulty correlation.

Tango's score test (Stat Med 1998;17:891–908) is built for exactly this: paired binary data, a
difference of marginal proportions, any null value Δ0. Its statistic uses the variance of b − c
under the null (the cell probabilities re-estimated by constrained maximum likelihood), so it keeps
its level near nominal down to small n and at Δ0 ≠ 0, where the Wald interval is too narrow and
where McNemar's conditioning on b + c no longer applies (Fagerland, Lydersen & Laake, Stat Med
2014;33:2850–75 recommend its interval). Inverting the same statistic gives the interval, so the test
and the interval agree by construction: the target is non-inferior at one-sided level α exactly when the
lower end of the two-sided (1 − 2α) interval lies above −δ. The default α = 0.025 pairs with the 95%
intervals everywhere else in the report (the ICH E9 convention for non-inferiority claims).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from scipy import stats as sps

from orch.eval.paired_tests import holm
from orch.eval.proportions import Frozen, bool_array

__all__ = ["DEFAULT_MARGIN", "NonInferiority", "TangoTest", "noninferiority_all", "tango_ci", "tango_test", "tango_z"]

DEFAULT_MARGIN = 0.03
"""Three accuracy points: a loss the ensemble may cost before it is called worse than one agent."""

ALPHA = 0.025
"""One-sided level of every non-inferiority test; the matching interval is the two-sided 95% one."""


class TangoTest(Frozen):
    """Tango's score test of H0: Δ ≤ −margin, Δ = acc(T) − acc(B) = (b − c) / n.

    `b`: items T got right and B wrong; `c`: the reverse. `ci_low`/`ci_high`: the two-sided
    (1 − 2α) Tango score interval of Δ; `z`: the score statistic at Δ0 = −margin; `p_value`:
    one-sided, P(Z ≥ z) under H0. All NaN when n == 0.
    """

    n: int
    b: int
    c: int
    margin: float
    diff: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float


class NonInferiority(Frozen):
    """One target against the baseline: the test, `p_holm` adjusted across the report's targets,
    and `non_inferior` = p_holm < α (one-sided)."""

    target: str
    baseline: str
    target_accuracy: float
    baseline_accuracy: float
    test: TangoTest
    p_holm: float
    non_inferior: bool


def _restricted_q21(b: int, c: int, n: int, delta0: float) -> float:
    """ML estimate of P(T wrong, B right) under the constraint q12 − q21 = Δ0 (Tango 1998):
    the positive root of 2n·q² + (−b − c + (2n − b + c)Δ0)·q − c·Δ0(1 − Δ0) = 0."""
    big_a = 2 * n
    big_b = -b - c + (2 * n - b + c) * delta0
    big_c = -c * delta0 * (1 - delta0)
    return (math.sqrt(max(big_b * big_b - 4 * big_a * big_c, 0.0)) - big_b) / (2 * big_a)


def tango_z(b: int, c: int, n: int, delta0: float) -> float:
    """Tango's score statistic (b − c − nΔ0) / sqrt(n(2q̃21 + Δ0(1 − Δ0))) for H0: Δ = Δ0.

    A null variance of zero (Δ0 = 0 with no discordant item) means there is no evidence either
    way: the statistic is 0 then, and ±inf when the numerator is not 0.
    """
    if n <= 0:
        return math.nan
    numerator = b - c - n * delta0
    variance = n * (2 * _restricted_q21(b, c, n, delta0) + delta0 * (1 - delta0))
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def tango_ci(b: int, c: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 − alpha) Tango score interval of Δ: every Δ0 that |Z(Δ0)| ≤ z(1 − alpha/2) keeps.

    Z falls monotonically from +inf at Δ0 = −1 to −inf at Δ0 = 1 (through 0 at the estimate), so
    each end is one root, found by Brent's method on the side of the estimate it lies on.
    """
    if n <= 0:
        return (math.nan, math.nan)
    crit = float(sps.norm.ppf(1 - alpha / 2))
    estimate, edge = (b - c) / n, 1 - 1e-12
    low = -1.0
    if estimate > -1 and tango_z(b, c, n, -edge) > crit:
        low = optimize.brentq(lambda d: tango_z(b, c, n, d) - crit, -edge, estimate, xtol=1e-12)
    high = 1.0
    if estimate < 1 and tango_z(b, c, n, edge) < -crit:
        high = optimize.brentq(lambda d: tango_z(b, c, n, d) + crit, estimate, edge, xtol=1e-12)
    return (float(low), float(high))


def tango_test(
    target_correct: ArrayLike, baseline_correct: ArrayLike, margin: float = DEFAULT_MARGIN, alpha: float = ALPHA
) -> TangoTest:
    """Tango's one-sided non-inferiority test of the target against the baseline, with its interval."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    t, bl = bool_array(target_correct, "target_correct"), bool_array(baseline_correct, "baseline_correct")
    if t.shape != bl.shape:
        raise ValueError(f"paired outcomes must have equal length, got {t.size} and {bl.size}")
    n, b, c = int(t.size), int(np.sum(t & ~bl)), int(np.sum(~t & bl))
    if n == 0:
        undefined = dict.fromkeys(("diff", "ci_low", "ci_high", "z", "p_value"), math.nan)
        return TangoTest(n=0, b=0, c=0, margin=margin, **undefined)
    z = tango_z(b, c, n, -margin)
    low, high = tango_ci(b, c, n, 2 * alpha)
    return TangoTest(
        n=n, b=b, c=c, margin=margin, diff=(b - c) / n, ci_low=low, ci_high=high, z=z, p_value=float(sps.norm.sf(z))
    )


def noninferiority_all(
    systems: Mapping[str, ArrayLike],
    baseline: str,
    targets: Sequence[str],
    *,
    margin: float = DEFAULT_MARGIN,
    alpha: float = ALPHA,
) -> list[NonInferiority]:
    """Every target against one baseline, Holm-adjusted as one family.

    Claiming "non-inferior" for several targets at once is several claims, so the step-down
    adjustment across the targets tested here keeps the chance of any false claim at α (the
    McNemar family of the report is a separate family: it asks another question).
    """
    rows = []
    for target in targets:
        if target == baseline:
            continue
        t, bl = bool_array(systems[target], target), bool_array(systems[baseline], baseline)
        test = tango_test(t, bl, margin, alpha)
        rows.append((target, float(t.mean()) if t.size else math.nan, float(bl.mean()) if bl.size else math.nan, test))
    adjusted = holm([test.p_value for *_, test in rows]) if all(r[3].n for r in rows) else [math.nan] * len(rows)
    return [
        NonInferiority(
            target=target,
            baseline=baseline,
            target_accuracy=t_acc,
            baseline_accuracy=b_acc,
            test=test,
            p_holm=p,
            non_inferior=bool(p < alpha),
        )
        for (target, t_acc, b_acc, test), p in zip(rows, adjusted, strict=True)
    ]
