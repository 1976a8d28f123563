"""The report's "Should you ensemble at all?" section as Markdown: the verdict, each target's
non-inferiority to the best single agent, and how alike the agents' mistakes are.

Kept apart from `orch.eval.markdown` so that module stays one function per classic section.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orch.eval.proportions import Proportion
    from orch.eval.report import EvalReport

__all__ = ["ensemble_section", "oracle_weights", "pct", "pvalue", "share", "signed", "table"]


def pct(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.1%}"


def share(p: Proportion) -> str:
    """A proportion with its counts, `46.7% (28/60)`."""
    return f"{pct(p.value)} ({p.k}/{p.n})"


def signed(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:+.1%}"


def pvalue(p: float) -> str:
    return "–" if math.isnan(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def oracle_weights(weights: dict[str, int]) -> str:
    """agent=weight pairs in panel order, e.g. `strong=3 mid=0 weak=1`; – when not computed."""
    return " ".join(f"{agent}={w}" for agent, w in weights.items()) or "–"


def _noninferiority(report: EvalReport) -> list[str]:
    if not report.noninferiority:
        return []
    rows = [
        [
            r.target,
            r.baseline,
            pct(r.target_accuracy),
            pct(r.baseline_accuracy),
            signed(r.test.diff),
            f"{signed(r.test.ci_low)} to {signed(r.test.ci_high)}",
            pvalue(r.test.p_value),
            pvalue(r.p_holm),
            "yes" if r.non_inferior else "no",
        ]
        for r in report.noninferiority
    ]
    header = ["target", "best single", "target acc.", "best acc.", "Δ", "Δ 95% CI", "p", "p (Holm)", "non-inferior"]
    return [*table(header, rows), ""]


def _agreement(report: EvalReport) -> list[str]:
    if not report.agreement:
        return ["Agreement of the agents: needs two single:* systems or more.", ""]
    rows = [
        [
            a.agent_a,
            a.agent_b,
            str(a.n),
            str(a.both_wrong),
            "–" if math.isnan(a.error_correlation) else f"{a.error_correlation:+.2f}",
            "–" if math.isnan(a.kappa) else f"{a.kappa:+.2f}",
            "–" if math.isnan(a.kappa_ci_low) else f"{a.kappa_ci_low:+.2f} to {a.kappa_ci_high:+.2f}",
        ]
        for a in report.agreement
    ]
    return [
        "How alike the agents' mistakes are (their single:* systems): κ = Cohen's κ on per-item "
        "correctness (1: wrong on the same items, 0: as alike as chance, < 0: complementary), with a "
        "paired bootstrap interval (10,000 resamples); error corr.: φ of the error indicators (– when an "
        "agent is right on every item or on none). An ensemble can only gain where κ is well below 1.",
        "",
        *table(["agent", "agent", "items", "both wrong", "error corr.", "κ", "κ 95% CI"], rows),
        "",
    ]


def ensemble_section(report: EvalReport) -> list[str]:
    """The verdict, then each target against the best single agent, then the agents' agreement."""
    margin = f"{report.noninferiority_margin * 100:g}"
    return [
        "## Should you ensemble at all?",
        "",
        f"**Verdict:** {report.verdict}.",
        "",
        f"Each target against the most accurate single agent on these items ({report.best_single or 'none'}; "
        "picked on the same items, which favours it): Tango's score test of non-inferiority on the paired "
        f"per-item correctness, H0: acc(target) − acc(best) ≤ −{margin} points, one-sided α = 2.5%. Δ 95% CI: "
        "Tango's score interval, which excludes −margin exactly when the unadjusted p < 0.025. p (Holm): "
        "adjusted across the targets tested here (a family of its own, apart from the McNemar comparisons); "
        "the verdict uses it.",
        "",
        *_noninferiority(report),
        *_agreement(report),
    ]
