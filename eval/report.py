"""An evaluation's report: the numbers (pure, from item results) and their Markdown rendering.

Everything here is computed from the per-item results of each system on the same items, so the
report can be re-rendered later from logged data without a model call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from orch.eval.stats import (
    Comparison,
    MergeAudit,
    Proportion,
    accuracy,
    budget_flag,
    compare_all,
    cost_summary,
    invalid_rate,
    latency_summary,
    merge_audit,
    panel_oracle,
    per_category_accuracy,
)
from orch.runner import ItemResult

__all__ = ["EvalReport", "SystemResults", "SystemRow", "build_report", "render_markdown"]


class SystemResults(BaseModel):
    """One system's results on the evaluation's items, in item order."""

    name: str
    kind: str
    baseline: bool
    results: list[ItemResult]


class SystemRow(BaseModel):
    name: str
    kind: str
    baseline: bool
    accuracy: Proportion
    invalid: Proportion
    tokens_per_item: float
    input_tokens_per_item: float
    output_tokens_per_item: float
    cost_per_item: float
    cost_per_correct: float | None
    tokens_per_correct: float | None
    latency_p50_s: float
    latency_p95_s: float
    calls_per_item: float


class TargetAudit(BaseModel):
    """For a graph with analysts: the panel-oracle upper bound and what the merge did."""

    target: str
    oracle: Proportion
    audit: MergeAudit


class BudgetedComparison(BaseModel):
    comparison: Comparison
    token_ratio: float
    """Target tokens per item ÷ baseline tokens per item."""
    flagged: bool
    """The target scores higher but spends a budget that differs by more than the tolerance."""


class EvalReport(BaseModel):
    benchmark: str
    sample: str
    seed: int
    n_items: int
    dataset_sha256: str
    budget_tolerance: float
    rows: list[SystemRow]
    comparisons: list[BudgetedComparison]
    audits: list[TargetAudit]
    per_category: dict[str, dict[str, Proportion]]
    notes: list[str]

    @property
    def first_target(self) -> str | None:
        return next((r.name for r in self.rows if not r.baseline), None)

    def against_first_target(self) -> dict[str, BudgetedComparison]:
        """Baseline name → its comparison with the first target: the column of the main table."""
        target = self.first_target
        return {c.comparison.baseline: c for c in self.comparisons if c.comparison.target == target}


def _row(s: SystemResults) -> SystemRow:
    rs = s.results
    correct = [bool(r.correct) for r in rs]
    costs = cost_summary(
        [r.usage.input_tokens for r in rs], [r.usage.output_tokens for r in rs], [r.usage.cost for r in rs], correct
    )
    # Model time per item (its calls summed, cached calls at their original time): wall time would
    # read 0 for a system served from the cache and depends on what else the machine runs.
    latency = latency_summary([r.usage.latency_ms for r in rs])
    n = max(len(rs), 1)
    return SystemRow(
        name=s.name,
        kind=s.kind,
        baseline=s.baseline,
        accuracy=accuracy(correct),
        invalid=invalid_rate([r.answer for r in rs]),
        tokens_per_item=costs["tokens_per_item"] or 0.0,
        input_tokens_per_item=costs["tokens_in_per_item"] or 0.0,
        output_tokens_per_item=costs["tokens_out_per_item"] or 0.0,
        cost_per_item=costs["cost_per_item"] or 0.0,
        cost_per_correct=costs["cost_per_correct"],
        tokens_per_correct=costs["tokens_per_correct"],
        latency_p50_s=latency["p50"] / 1000,
        latency_p95_s=latency["p95"] / 1000,
        calls_per_item=sum(r.usage.calls for r in rs) / n,
    )


def _analyst_answers(result: ItemResult) -> list[str | None]:
    return [a.answer for a in result.analyses if a.kind == "analysis"]


def build_report(
    systems: Sequence[SystemResults],
    *,
    benchmark: str,
    sample: str,
    seed: int,
    dataset_sha256: str,
    budget_tolerance: float = 0.25,
    notes: Sequence[str] = (),
) -> EvalReport:
    """Accuracy with Wilson CIs, exact McNemar of every target against every baseline (Holm across
    all of them) with paired bootstrap CIs, budget flags, panel oracle and merge audit, per category."""
    ids = [r.item.id for r in systems[0].results] if systems else []
    for s in systems:
        if [r.item.id for r in s.results] != ids:
            raise ValueError(f"system {s.name!r} was not run on the same items in the same order")
    rows = [_row(s) for s in systems]
    by_name = {row.name: row for row in rows}
    outcomes = {s.name: [bool(r.correct) for r in s.results] for s in systems}
    baselines = [s.name for s in systems if s.baseline]
    targets = [s.name for s in systems if not s.baseline]
    comparisons = []
    for c in compare_all(outcomes, baselines, targets) if ids else []:
        t, b = by_name[c.target].tokens_per_item, by_name[c.baseline].tokens_per_item
        ratio = t / b if b else math.inf
        flagged = c.diff > 0 and budget_flag(t, b, budget_tolerance)
        comparisons.append(BudgetedComparison(comparison=c, token_ratio=ratio, flagged=flagged))
    audits = []
    for s in systems:
        panels = [_analyst_answers(r) for r in s.results]
        if s.kind == "graph" and any(panels):  # graphs compared as baselines (orch vs orch-ema) too
            gold = [r.item.answer or "" for r in s.results]
            audits.append(
                TargetAudit(
                    target=s.name,
                    oracle=panel_oracle(panels, gold),
                    audit=merge_audit([r.answer for r in s.results], panels, gold),
                )
            )
    categories = [r.item.category for r in systems[0].results] if systems else []
    per_category = {s.name: per_category_accuracy(categories, outcomes[s.name]) for s in systems}
    return EvalReport(
        benchmark=benchmark,
        sample=sample,
        seed=seed,
        n_items=len(ids),
        dataset_sha256=dataset_sha256,
        budget_tolerance=budget_tolerance,
        rows=rows,
        comparisons=comparisons,
        audits=audits,
        per_category=per_category,
        notes=list(notes),
    )


def _pct(p: float) -> str:
    return "–" if math.isnan(p) else f"{p:.1%}"


def _p(p: float) -> str:
    return "–" if math.isnan(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_markdown(report: EvalReport) -> str:
    """The report as Markdown: main table first, then comparisons, audits, categories and notes."""
    first_target = report.first_target
    vs_target = report.against_first_target()
    out = [
        f"# Evaluation: {report.benchmark}, sample {report.sample}, seed {report.seed}",
        "",
        f"{report.n_items} items (dataset sha256 `{report.dataset_sha256[:16]}…`). Accuracy with 95% Wilson CIs; "
        "p50/p95 s: model time per item (its calls summed; cached calls count their original time); "
        f"p: exact McNemar of {first_target or 'the target'} against each baseline, Holm-adjusted across all "
        "target × baseline comparisons.",
        "",
    ]
    main = []
    for r in report.rows:
        c = vs_target.get(r.name)
        vs = f"{c.comparison.diff:+.1%} (p={_p(c.comparison.p_holm)})" if c else ""
        main.append(
            [
                r.name,
                _pct(r.accuracy.value),
                f"{_pct(r.accuracy.ci_low)}–{_pct(r.accuracy.ci_high)}",
                _pct(r.invalid.value),
                f"{r.tokens_per_item:.0f}",
                f"{r.calls_per_item:.1f}",
                f"{r.latency_p50_s:.1f}/{r.latency_p95_s:.1f}",
                f"{r.cost_per_item:.5f}",
                vs,
            ]
        )
    header = [
        "system",
        "accuracy",
        "95% CI",
        "invalid",
        "tokens/item",
        "calls/item",
        "p50/p95 s",
        "cost/item $",
        f"{first_target} − system (Holm p)",
    ]
    out += ["## Systems", "", *_table(header, main), ""]
    if report.comparisons:
        rows = []
        for bc in report.comparisons:
            c = bc.comparison
            flag = "⚠ budget differs" if bc.flagged else ""
            rows.append(
                [
                    c.target,
                    c.baseline,
                    f"{c.diff:+.1%}",
                    f"{_pct(c.ci_low)} to {_pct(c.ci_high)}",
                    str(c.b),
                    str(c.c),
                    _p(c.p_value),
                    _p(c.p_holm),
                    f"{bc.token_ratio:.2f}×",
                    flag,
                ]
            )
        out += [
            "## Comparisons",
            "",
            "b: items the target got right and the baseline wrong; c: the reverse. Δ CI: paired bootstrap "
            f"(10,000 resamples). ⚠: the target wins while spending a token budget more than "
            f"{report.budget_tolerance:.0%} away from the baseline's.",
            "",
            *_table(
                ["target", "baseline", "Δ accuracy", "Δ 95% CI", "b", "c", "p", "p (Holm)", "tokens ratio", ""], rows
            ),
            "",
        ]
    if report.audits:
        rows = [
            [
                a.target,
                f"{_pct(a.oracle.value)} ({a.oracle.k}/{a.oracle.n})",
                str(a.audit.majority_correct),
                str(a.audit.final_correct),
                str(a.audit.rescues),
                str(a.audit.spoils),
                str(a.audit.unanimous_overrides),
                str(a.audit.novel_answers),
            ]
            for a in report.audits
        ]
        out += [
            "## Merge audit",
            "",
            "Panel oracle: an analyst was right (upper bound for any merge). Rescue: merge right while the panel's "
            "strict majority was not; spoil: the reverse. Override: a unanimous panel (≥2) was overruled. Novel: "
            "the merge chose an answer no analyst proposed.",
            "",
            *_table(
                [
                    "target",
                    "panel oracle",
                    "majority right",
                    "merge right",
                    "rescues",
                    "spoils",
                    "unanimous overrides",
                    "novel answers",
                ],
                rows,
            ),
            "",
        ]
    categories = sorted({c for per in report.per_category.values() for c in per})
    if len(categories) > 1:
        rows = [
            [name, *(f"{report.per_category[name][c].k}/{report.per_category[name][c].n}" for c in categories)]
            for name in report.per_category
        ]
        out += ["## Per category (right/items)", "", *_table(["system", *categories], rows), ""]
    if report.notes:
        out += ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(out)
