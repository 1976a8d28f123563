"""Should you ensemble at all? Each target against the best single agent, and the report's verdict.

An ensemble costs several calls per item, so the question a reader asks first is whether it is at
least about as good as the best agent alone. The report answers it with Tango's non-inferiority test
(`orch.eval.noninferiority`) of every target against the most accurate single:* system, Holm-adjusted
across the targets, and one line that says what the test found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from numpy.typing import ArrayLike

from orch.eval.agreement import AgentAgreement, pairwise_agreement
from orch.eval.noninferiority import NonInferiority, noninferiority_all

__all__ = ["SINGLE_PREFIX", "best_single", "ensemble_verdict", "single_agent_outcomes", "versus_best_single"]

SINGLE_PREFIX = "single:"


def best_single(accuracies: Mapping[str, float], kinds: Mapping[str, str]) -> str | None:
    """The most accurate single:* system on these items (ties: the first listed), or None.

    Picked on the evaluated items themselves, which favours the baseline: the test against it is,
    if anything, conservative for the ensemble. Only `single` systems count (one direct call per
    item, the cheapest alternative to an ensemble); cot:* and sc are baselines of another kind.
    """
    singles = [name for name, kind in kinds.items() if kind == "single" and not math.isnan(accuracies[name])]
    return max(singles, key=lambda name: accuracies[name], default=None)


def single_agent_outcomes(outcomes: Mapping[str, ArrayLike], kinds: Mapping[str, str]) -> dict[str, ArrayLike]:
    """Per agent id, its single:* system's correctness: every agent on every item, same prompt."""
    return {name.removeprefix(SINGLE_PREFIX): outcomes[name] for name, kind in kinds.items() if kind == "single"}


def versus_best_single(
    outcomes: Mapping[str, ArrayLike],
    kinds: Mapping[str, str],
    accuracies: Mapping[str, float],
    targets: Sequence[str],
    margin: float,
) -> tuple[str | None, list[NonInferiority], list[AgentAgreement]]:
    """The best single agent, each target's non-inferiority test against it, and the agents' κ."""
    best = best_single(accuracies, kinds)
    tests = noninferiority_all(outcomes, best, targets, margin=margin) if best is not None else []
    return best, tests, pairwise_agreement(single_agent_outcomes(outcomes, kinds))


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:+.1%}"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _numbers(row: NonInferiority) -> str:
    t = row.test
    return f"Δ {_pct(t.diff)}, 95% CI {_pct(t.ci_low)} to {_pct(t.ci_high)}, Holm p = {_p(row.p_holm)}"


def ensemble_verdict(
    tests: Sequence[NonInferiority], best: str | None, targets: Sequence[str], margin: float, *, n_items: int
) -> str:
    """One line: whether an ensemble (a target) is non-inferior to the best single agent.

    The target named is the non-inferior one with the smallest Holm p-value, else the failing one
    closest to passing (smallest Holm p); the other targets follow by name, grouped by outcome.
    "Non-inferior" means Holm p < α (one-sided, α = 0.025); for a single target that is the same as
    the 95% interval's lower end lying above −margin.
    """
    points = f"{margin * 100:g} point{'s' if margin != 0.01 else ''}"
    if n_items == 0:
        return "no verdict: no item was answered by every system"
    if not targets:
        return "no verdict: no ensemble (a graph compared as a target) among the systems"
    if best is None:
        return "no verdict: no single:* system to compare the ensemble with"
    if not tests:  # the only target is the best single system itself
        return "no verdict: no target other than the single agent"
    passed = sorted((r for r in tests if r.non_inferior), key=lambda r: r.p_holm)
    failed = sorted((r for r in tests if not r.non_inferior), key=lambda r: r.p_holm)
    if passed:
        head, others = passed[0], [("also non-inferior", passed[1:]), ("not non-inferior", failed)]
        line = f"ensemble holds up: {head.target} is non-inferior to {best} at {points} ({_numbers(head)})"
    else:
        head, others = failed[0], [("not non-inferior either", failed[1:])]
        line = f"ensemble not worth it: {head.target} is not non-inferior to {best} at {points} ({_numbers(head)})"
    for label, rows in others:
        if rows:
            line += f"; {label}: " + ", ".join(r.target for r in rows)
    return line
