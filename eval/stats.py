"""Paired statistics for comparing systems (single models, majority vote, ORCH) on the same items.

Every system answers the same items, so comparisons are *paired*: McNemar's exact test on the
discordant items and a bootstrap that resamples items (not systems) keep the item-difficulty
correlation out of the error bars. All functions are pure; inputs are per-item arrays in item
order, outputs are small frozen models or plain dicts that serialise straight into reports.

Answer conventions: an answer is a string compared to gold by exact equality (normalisation is the
extractor's job), and `None` means invalid / unparseable, which is never right. Panel inputs are
*item-major*: `analyst_answers[i]` holds the answers of every analyst for item `i`, so the panel may
differ in size from item to item (e.g. an analyst that failed on one item is simply absent).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "UNCATEGORIZED",
    "Comparison",
    "McNemar",
    "MergeAudit",
    "Proportion",
    "accuracy",
    "budget_flag",
    "compare_all",
    "cost_summary",
    "holm",
    "invalid_rate",
    "latency_summary",
    "mcnemar_exact",
    "merge_audit",
    "paired_bootstrap_diff_ci",
    "panel_oracle",
    "per_category_accuracy",
    "wilson_ci",
]

UNCATEGORIZED = "(none)"
"""Key used by `per_category_accuracy` for items whose category is `None`."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Proportion(_Frozen):
    """k successes out of n with a Wilson interval; `value` and the bounds are NaN when n == 0."""

    k: int
    n: int
    value: float
    ci_low: float
    ci_high: float


class McNemar(_Frozen):
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


class Comparison(_Frozen):
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


class MergeAudit(_Frozen):
    """What the merge step did relative to its panel; see `merge_audit` for the exact definitions."""

    n: int
    final_correct: int
    majority_correct: int
    rescues: int
    spoils: int
    unanimous_overrides: int
    novel_answers: int


def _bool_array(x: ArrayLike, name: str) -> NDArray[np.bool_]:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and arr.dtype != np.bool_ and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans (or 0/1)")
    return arr.astype(bool)


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    aa, bb = _bool_array(a, "a_correct"), _bool_array(b, "b_correct")
    if aa.shape != bb.shape:
        raise ValueError(f"paired outcomes must have equal length, got {aa.size} and {bb.size}")
    return aa, bb


def _same_length(**seqs: Sequence[object]) -> int:
    lengths = {name: len(s) for name, s in seqs.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have equal length, got {lengths}")
    return next(iter(lengths.values()), 0)


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
    return (float(low), float(high))


def _proportion(k: int, n: int, alpha: float = 0.05) -> Proportion:
    low, high = wilson_ci(k, n, alpha)
    return Proportion(k=k, n=n, value=k / n if n else math.nan, ci_low=low, ci_high=high)


def accuracy(correct: ArrayLike, alpha: float = 0.05) -> Proportion:
    """Share of items answered correctly, with a Wilson interval."""
    arr = _bool_array(correct, "correct")
    return _proportion(int(arr.sum()), int(arr.size), alpha)


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


def panel_oracle(
    analyst_answers: Sequence[Sequence[str | None]], gold: Sequence[str], alpha: float = 0.05
) -> Proportion:
    """Share of items where at least one analyst was right (item-major input).

    No merge that picks among the panel's answers can beat this, so it bounds what ORCH's merge
    step could recover; the gap to the actual final accuracy is the merge's headroom.
    """
    n = _same_length(analyst_answers=analyst_answers, gold=gold)
    k = sum(any(a is not None and a == g for a in answers) for answers, g in zip(analyst_answers, gold, strict=True))
    return _proportion(k, n, alpha)


def _majority(answers: Sequence[str | None]) -> str | None:
    """The valid answer with the most votes if no other answer ties it, else None."""
    counts = Counter(a for a in answers if a is not None).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def merge_audit(
    final: Sequence[str | None],
    analyst_answers: Sequence[Sequence[str | None]],
    gold: Sequence[str],
) -> MergeAudit:
    """Count what the merge changed relative to a plain vote of its own panel (item-major input).

    Per item, with `valid` = the analysts' non-None answers:

    - majority: the answer with the most votes in `valid` if that top count is unique, else none
      (ties and empty panels have no majority; a lone valid answer is its own majority);
    - `final_correct`: final == gold; `majority_correct`: majority == gold;
    - `rescues`: final right and majority not right (wrong, tied or absent);
    - `spoils`: final wrong (including None) while the majority was right;
    - `unanimous_overrides`: len(valid) >= 2, all of `valid` identical, and final differs from that
      answer (a None final counts as differing: the merge dropped a unanimous consensus);
    - `novel_answers`: final is not None and no analyst proposed it.

    rescues − spoils == final_correct − majority_correct, i.e. the merge's net gain over voting.
    """
    n = _same_length(final=final, analyst_answers=analyst_answers, gold=gold)
    counts = Counter[str]()
    for f, answers, g in zip(final, analyst_answers, gold, strict=True):
        valid = [a for a in answers if a is not None]
        maj = _majority(valid)
        final_right = f is not None and f == g
        maj_right = maj is not None and maj == g
        counts["final_correct"] += final_right
        counts["majority_correct"] += maj_right
        counts["rescues"] += final_right and not maj_right
        counts["spoils"] += maj_right and not final_right
        counts["unanimous_overrides"] += len(valid) >= 2 and len(set(valid)) == 1 and f != valid[0]
        counts["novel_answers"] += f is not None and f not in valid
    return MergeAudit(
        n=n,
        **{k: counts[k] for k in MergeAudit.model_fields if k != "n"},
    )


def latency_summary(ms: ArrayLike) -> dict[str, float]:
    """n, mean, p50 and p95 (numpy's linear percentiles) of per-item latencies in milliseconds.

    Tail latency matters for ensembles because a merge waits for its slowest analyst. NaN (failed
    or unmeasured calls) is dropped and not counted; an empty input gives NaN statistics.
    """
    arr = np.asarray(ms, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"ms must be one-dimensional, got shape {arr.shape}")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"n": 0, "mean": math.nan, "p50": math.nan, "p95": math.nan}
    p50, p95 = np.percentile(arr, [50, 95])
    return {"n": int(arr.size), "mean": float(arr.mean()), "p50": float(p50), "p95": float(p95)}


def cost_summary(
    tokens_in: ArrayLike, tokens_out: ArrayLike, cost: ArrayLike, correct: ArrayLike
) -> dict[str, float | int | None]:
    """Totals, per-item and per-correct-answer tokens and cost.

    Per-correct figures (total / number correct) price what a system actually delivers, so a cheap
    system that is usually wrong does not look cheap. They are None (not inf, which JSON cannot
    carry) when nothing was answered correctly; per-item figures are None when there are no items.
    Keys: n, n_correct, tokens_in, tokens_out, tokens, cost (totals), then `<x>_per_item` and
    `<x>_per_correct` for x in tokens_in, tokens_out, tokens, cost.
    """
    tin = np.asarray(tokens_in, dtype=float)
    tout = np.asarray(tokens_out, dtype=float)
    usd = np.asarray(cost, dtype=float)
    ok = _bool_array(correct, "correct")
    if not tin.shape == tout.shape == usd.shape == ok.shape or ok.ndim != 1:
        raise ValueError(f"inputs must be 1-D of equal length, got {tin.shape}, {tout.shape}, {usd.shape}, {ok.shape}")
    n, n_correct = int(ok.size), int(ok.sum())
    totals = {
        "tokens_in": float(tin.sum()),
        "tokens_out": float(tout.sum()),
        "tokens": float(tin.sum() + tout.sum()),
        "cost": float(usd.sum()),
    }
    out: dict[str, float | int | None] = {"n": n, "n_correct": n_correct, **totals}
    for key, total in totals.items():
        out[f"{key}_per_item"] = total / n if n else None
        out[f"{key}_per_correct"] = total / n_correct if n_correct else None
    return out


def per_category_accuracy(
    categories: Sequence[str | None], correct: ArrayLike, alpha: float = 0.05
) -> dict[str, Proportion]:
    """Accuracy per category (e.g. MMLU subject), keys sorted; None is keyed as `UNCATEGORIZED`.

    An aggregate gain can hide losses in some categories; the Wilson bounds show how little a
    small category says on its own.
    """
    ok = _bool_array(correct, "correct")
    _same_length(categories=categories, correct=ok)
    tally: dict[str, list[int]] = {}
    for cat, right in zip(categories, ok, strict=True):
        k_n = tally.setdefault(UNCATEGORIZED if cat is None else cat, [0, 0])
        k_n[0] += int(right)
        k_n[1] += 1
    return {cat: _proportion(k, n, alpha) for cat, (k, n) in sorted(tally.items())}


def budget_flag(target_tokens: float, baseline_tokens: float, tolerance: float = 0.25) -> bool:
    """True when the target's tokens per item differ from the baseline's by more than `tolerance`
    relative to the baseline, i.e. |target − baseline| / baseline > tolerance.

    A gain bought with several times the budget is not a like-for-like win; this flags such rows.
    A zero baseline is flagged unless the target is zero too.
    """
    if tolerance < 0 or target_tokens < 0 or baseline_tokens < 0:
        raise ValueError("tokens and tolerance must be non-negative")
    if baseline_tokens == 0:
        return target_tokens != 0
    return abs(target_tokens - baseline_tokens) / baseline_tokens > tolerance


def invalid_rate(answers: Sequence[str | None], alpha: float = 0.05) -> Proportion:
    """Share of items with no parseable answer (None), with a Wilson interval.

    Invalid answers count as wrong in accuracy; reporting them separately tells format failures
    apart from reasoning failures.
    """
    return _proportion(sum(a is None for a in answers), len(answers), alpha)
