"""Summaries of one system's run: what the merge did with its panel, latency, cost, categories,
budget and invalid answers.

Accuracy alone hides how a result was bought: these put the panel's upper bound, the merge's rescues
and spoils, tail latency, cost per correct answer and format failures next to it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from orch.eval.proportions import Frozen, Proportion, bool_array, proportion_of

__all__ = [
    "UNCATEGORIZED",
    "MergeAudit",
    "budget_flag",
    "cost_summary",
    "invalid_rate",
    "latency_summary",
    "merge_audit",
    "panel_oracle",
    "per_category_accuracy",
]

UNCATEGORIZED = "(none)"
"""Key used by `per_category_accuracy` for items whose category is `None`."""


class MergeAudit(Frozen):
    """What the merge step did relative to its panel; see `merge_audit` for the exact definitions."""

    n: int
    final_correct: int
    majority_correct: int
    rescues: int
    spoils: int
    unanimous_overrides: int
    novel_answers: int


def _same_length(**seqs: Sequence[object]) -> int:
    lengths = {name: len(s) for name, s in seqs.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have equal length, got {lengths}")
    return next(iter(lengths.values()), 0)


def panel_oracle(
    analyst_answers: Sequence[Sequence[str | None]], gold: Sequence[str], alpha: float = 0.05
) -> Proportion:
    """Share of items where at least one analyst was right (item-major input).

    No merge that picks among the panel's answers can beat this, so it bounds what ORCH's merge
    step could recover; the gap to the actual final accuracy is the merge's headroom.
    """
    n = _same_length(analyst_answers=analyst_answers, gold=gold)
    k = sum(any(a is not None and a == g for a in answers) for answers, g in zip(analyst_answers, gold, strict=True))
    return proportion_of(k, n, alpha)


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
    ok = bool_array(correct, "correct")
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
    ok = bool_array(correct, "correct")
    _same_length(categories=categories, correct=ok)
    tally: dict[str, list[int]] = {}
    for cat, right in zip(categories, ok, strict=True):
        k_n = tally.setdefault(UNCATEGORIZED if cat is None else cat, [0, 0])
        k_n[0] += int(right)
        k_n[1] += 1
    return {cat: proportion_of(k, n, alpha) for cat, (k, n) in sorted(tally.items())}


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
    return proportion_of(sum(a is None for a in answers), len(answers), alpha)
