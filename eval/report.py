"""An evaluation's report: the numbers (pure, from item results); `orch.eval.markdown` renders them.

Everything here is computed from the per-item results of each system on the same items, so the
report can be re-rendered later from logged data without a model call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from orch.eval.agreement import AgentAgreement
from orch.eval.gate import GateSummary, gate_summary
from orch.eval.markdown import render_markdown
from orch.eval.noninferiority import DEFAULT_MARGIN, NonInferiority
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
from orch.eval.verdict import ensemble_verdict, versus_best_single
from orch.eval.weighted_oracle import weighted_oracle
from orch.records import ItemResult

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
    """For a graph with analysts: the panel-oracle and weighted-oracle bounds and what the merge did."""

    target: str
    oracle: Proportion
    weighted_oracle: Proportion | None
    """Best fixed weighting of the analysts' votes on these items (`orch.eval.weighted_oracle`);
    None above `MAX_AGENTS` agents."""
    oracle_weights: dict[str, int]
    """The weights (agent → 0…3) that reach `weighted_oracle`; empty when it is None."""
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
    gates: list[GateSummary] = []
    """Per target with a gated merge: what the gate saved (`orch.eval.gate`)."""
    per_category: dict[str, dict[str, Proportion]]
    notes: list[str]
    noninferiority_margin: float
    best_single: str | None
    """The most accurate single:* system, the one every target is tested against (None: no single:*)."""
    noninferiority: list[NonInferiority]
    """Each target against `best_single`: Tango's one-sided test, Holm across the targets."""
    agreement: list[AgentAgreement]
    """Every pair of agents (their single:* systems): Cohen's κ on correctness and error correlation."""
    verdict: str
    """One line: should you ensemble at all (see `orch.eval.verdict.ensemble_verdict`)."""

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


def _analyst_votes(result: ItemResult) -> list[tuple[str, str | None]]:
    """Each analysis as (agent, answer): what a reliability-weighted decision would weigh."""
    return [(a.agent, a.answer) for a in result.analyses if a.kind == "analysis"]


def _audit(s: SystemResults) -> TargetAudit | None:
    """Bounds and merge audit of a graph with analysts (graphs compared as baselines too), else None."""
    panels = [_analyst_answers(r) for r in s.results]
    if s.kind != "graph" or not any(panels):
        return None
    gold = [r.item.answer or "" for r in s.results]
    weighted = weighted_oracle([_analyst_votes(r) for r in s.results], gold)
    return TargetAudit(
        target=s.name,
        oracle=panel_oracle(panels, gold),
        weighted_oracle=weighted.accuracy if weighted else None,
        oracle_weights=weighted.weights if weighted else {},
        audit=merge_audit([r.answer for r in s.results], panels, gold),
    )


def _budgeted(
    outcomes: dict[str, list[bool]], rows: Sequence[SystemRow], baselines: list[str], targets: list[str], tol: float
) -> list[BudgetedComparison]:
    """Every target against every baseline (McNemar, Holm, bootstrap) with its budget flag."""
    by_name = {row.name: row for row in rows}
    comparisons = []
    for c in compare_all(outcomes, baselines, targets):
        t, b = by_name[c.target].tokens_per_item, by_name[c.baseline].tokens_per_item
        ratio = t / b if b else math.inf
        flagged = c.diff > 0 and budget_flag(t, b, tol)
        comparisons.append(BudgetedComparison(comparison=c, token_ratio=ratio, flagged=flagged))
    return comparisons


def build_report(
    systems: Sequence[SystemResults],
    *,
    benchmark: str,
    sample: str,
    seed: int,
    dataset_sha256: str,
    budget_tolerance: float = 0.25,
    noninferiority_margin: float = DEFAULT_MARGIN,
    notes: Sequence[str] = (),
) -> EvalReport:
    """Accuracy with Wilson CIs, exact McNemar of every target against every baseline (Holm across
    all of them) with paired bootstrap CIs, budget flags, panel and weighted oracles and merge audit,
    per category; then each target's non-inferiority to the best single agent, the agents' κ and
    the verdict."""
    ids = [r.item.id for r in systems[0].results] if systems else []
    for s in systems:
        if [r.item.id for r in s.results] != ids:
            raise ValueError(f"system {s.name!r} was not run on the same items in the same order")
    rows = [_row(s) for s in systems]
    outcomes = {s.name: [bool(r.correct) for r in s.results] for s in systems}
    baselines = [s.name for s in systems if s.baseline]
    targets = [s.name for s in systems if not s.baseline]
    best, tests, agreement = (
        versus_best_single(
            outcomes,
            {s.name: s.kind for s in systems},
            {row.name: row.accuracy.value for row in rows},
            targets,
            noninferiority_margin,
        )
        if ids
        else (None, [], [])
    )
    categories = [r.item.category for r in systems[0].results] if systems else []
    return EvalReport(
        benchmark=benchmark,
        sample=sample,
        seed=seed,
        n_items=len(ids),
        dataset_sha256=dataset_sha256,
        budget_tolerance=budget_tolerance,
        rows=rows,
        comparisons=_budgeted(outcomes, rows, baselines, targets, budget_tolerance) if ids else [],
        audits=[a for a in map(_audit, systems) if a is not None],
        gates=[g for s in systems if (g := gate_summary(s.name, s.results)) is not None],
        per_category={s.name: per_category_accuracy(categories, outcomes[s.name]) for s in systems},
        notes=list(notes),
        noninferiority_margin=noninferiority_margin,
        best_single=best,
        noninferiority=tests,
        agreement=agreement,
        verdict=ensemble_verdict(tests, best, targets, noninferiority_margin, n_items=len(ids)),
    )
