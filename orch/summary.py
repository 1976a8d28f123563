"""Figures over a list of item results: accuracy with its Wilson interval, invalid rate, model
time, tokens, cost, and how often each agent's structured output had to fall back to text parsing.

Latency here is model time (an item's calls summed, cached calls at their original time), the
same definition evaluation reports use; wall time is reported beside it as `wall_ms_mean`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from orch.records import ItemResult, Usage

__all__ = ["AgentSummary", "DispatcherSummary", "Results", "RunSummary", "item_row", "summarize", "wilson"]


def wilson(correct: int, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of a proportion."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(correct, n, alpha=0.05, method="wilson")
    return float(low), float(high)


class AgentSummary(BaseModel):
    agent: str
    outputs: int
    answered: int
    correct: int
    """Outputs whose own answer matched the gold (items with gold only)."""
    paths: dict[str, int]
    """Parse path → count: `json` is the structured reply as sent; the rest are fallbacks."""
    mean_latency_ms: float
    output_tokens: int

    @property
    def fallback_rate(self) -> float:
        return 1 - self.paths.get("json", 0) / self.outputs if self.outputs else 0.0


class DispatcherSummary(BaseModel):
    """The dispatcher's calls, apart from the analysts': it writes sub-questions, not answers, so it
    has no accuracy, only how often the fixed facets had to stand in and what it cost."""

    agent: str
    calls: int
    fallbacks: int
    """Items where the fixed facets stood in (the call failed or its reply was unreadable)."""
    failed: int
    """Calls that failed (each also a degraded item)."""
    mean_latency_ms: float
    output_tokens: int


class RunSummary(BaseModel):
    items: int
    graded: int
    """Items with a gold answer that were answered (failed items are no answer, right or wrong)."""
    correct: int
    invalid: int
    degraded: int
    """Answered although some call failed (an analyst missing, a merge that fell back)."""
    failed: int
    """Calls failed and no answer was decided."""
    accuracy: float | None
    accuracy_ci_low: float | None
    accuracy_ci_high: float | None
    invalid_rate: float
    latency_ms_mean: float
    latency_ms_p50: float
    latency_ms_p95: float
    """Model time per item: its calls summed (see the module docstring)."""
    wall_ms_mean: float
    analysis_ms_mean: float
    decision_ms_mean: float
    input_tokens_per_item: float
    output_tokens_per_item: float
    calls_per_item: float
    retries: int
    """Attempts that failed and were retried (429, 5xx, timeouts, dropped connections, malformed replies)."""
    cost_total: float
    decision_methods: dict[str, int]
    agents: list[AgentSummary]
    dispatcher: DispatcherSummary | None = None
    """None for graphs whose `decompose` asks no dispatcher (and items whose source takes no facets)."""

    def metrics(self) -> dict[str, float | None]:
        """Flat metric names, identical across graphs so MLflow compares runs side by side."""
        out: dict[str, float | None] = {
            "accuracy": self.accuracy,
            "accuracy_ci_low": self.accuracy_ci_low,
            "accuracy_ci_high": self.accuracy_ci_high,
            "invalid_rate": self.invalid_rate,
            "items": self.items,
            "degraded_items": self.degraded,
            "failed_items": self.failed,
            "latency_ms_mean": self.latency_ms_mean,
            "latency_ms_p50": self.latency_ms_p50,
            "latency_ms_p95": self.latency_ms_p95,
            "wall_ms_mean": self.wall_ms_mean,
            "analysis_ms_mean": self.analysis_ms_mean,
            "decision_ms_mean": self.decision_ms_mean,
            "input_tokens_per_item": self.input_tokens_per_item,
            "output_tokens_per_item": self.output_tokens_per_item,
            "calls_per_item": self.calls_per_item,
            "retries": self.retries,
            "cost_total": self.cost_total,
            "cost_per_item": self.cost_total / self.items if self.items else 0.0,
        }
        for method in DECISION_METHODS:  # every graph logs all of them: a gated merge's skipped calls are `weighted`
            out[f"decisions.{method}"] = self.decision_methods.get(method, 0)
        out["decisions.other"] = sum(n for m, n in self.decision_methods.items() if m not in DECISION_METHODS)
        out["dispatch.calls"] = self.dispatcher.calls if self.dispatcher else 0
        out["dispatch.fallbacks"] = self.dispatcher.fallbacks if self.dispatcher else 0
        for agent in self.agents:
            out[f"agent.{agent.agent}.fallback_rate"] = agent.fallback_rate
            if self.graded:
                out[f"agent.{agent.agent}.accuracy"] = agent.correct / agent.outputs if agent.outputs else None
        return out


DECISION_METHODS = (
    "merge",
    "merge_fallback_vote",
    "merge_fallback_order",
    "merge_fallback_weighted",
    "weighted",
    "vote",
    "direct",
    "none",
)
"""orch's own decision rules (`Decision.method`), counted per run under `decisions.<method>`."""


def _agent_summaries(results: Sequence[ItemResult]) -> list[AgentSummary]:
    """Per agent: outputs, answers, own-answer accuracy, parse paths, model time and tokens."""
    import numpy as np

    by_agent: dict[str, list] = {}
    for r in results:
        for a in r.analyses:
            by_agent.setdefault(r.shown_as(a), []).append((r, a))
    agents = []
    for agent_id in sorted(by_agent):
        pairs = by_agent[agent_id]
        paths: dict[str, int] = {}
        for _, a in pairs:
            paths[a.path] = paths.get(a.path, 0) + 1
        agents.append(
            AgentSummary(
                agent=agent_id,
                outputs=len(pairs),
                answered=sum(a.answer is not None for _, a in pairs),
                correct=sum(r.item.answer is not None and a.answer == r.item.answer for r, a in pairs),
                paths=dict(sorted(paths.items())),
                mean_latency_ms=float(np.mean([a.usage.latency_ms for _, a in pairs])),
                output_tokens=sum(a.usage.output_tokens for _, a in pairs),
            )
        )
    return agents


def _dispatcher_summary(results: Sequence[ItemResult]) -> DispatcherSummary | None:
    dispatches = [r.dispatch for r in results if r.dispatch is not None]
    if not dispatches:
        return None
    usage = sum((d.usage for d in dispatches), Usage())
    return DispatcherSummary(
        agent=", ".join(sorted({d.agent for d in dispatches})),
        calls=len(dispatches),
        fallbacks=sum(d.fallback is not None for d in dispatches),
        failed=sum(d.error is not None for d in dispatches),
        mean_latency_ms=usage.latency_ms / len(dispatches),
        output_tokens=usage.output_tokens,
    )


def summarize(results: Sequence[ItemResult]) -> RunSummary:
    import numpy as np

    n = len(results)
    graded = [r for r in results if r.correct is not None and r.status != "failed"]
    latencies = np.array([r.model_ms for r in results]) if results else np.zeros(1)
    agents = _agent_summaries(results)
    methods: dict[str, int] = {}
    for r in results:
        methods[r.decision.method] = methods.get(r.decision.method, 0) + 1
    per_item = max(n, 1)
    correct = sum(bool(r.correct) for r in graded)
    low, high = wilson(correct, len(graded)) if graded else (None, None)
    return RunSummary(
        items=n,
        graded=len(graded),
        correct=correct,
        invalid=sum(not r.valid and r.status != "failed" for r in results),
        degraded=sum(r.status == "degraded" for r in results),
        failed=sum(r.status == "failed" for r in results),
        accuracy=correct / len(graded) if graded else None,
        accuracy_ci_low=low,
        accuracy_ci_high=high,
        invalid_rate=sum(not r.valid and r.status != "failed" for r in results) / per_item,
        latency_ms_mean=float(latencies.mean()),
        latency_ms_p50=float(np.percentile(latencies, 50)),
        latency_ms_p95=float(np.percentile(latencies, 95)),
        wall_ms_mean=sum(r.wall_ms for r in results) / per_item,
        analysis_ms_mean=sum(r.analysis_ms for r in results) / per_item,
        decision_ms_mean=sum(r.decision_ms for r in results) / per_item,
        input_tokens_per_item=sum(r.usage.input_tokens for r in results) / per_item,
        output_tokens_per_item=sum(r.usage.output_tokens for r in results) / per_item,
        calls_per_item=sum(r.usage.calls for r in results) / per_item,
        retries=sum(r.usage.retries for r in results),
        cost_total=sum(r.usage.cost for r in results),
        decision_methods=dict(sorted(methods.items())),
        agents=agents,
        dispatcher=_dispatcher_summary(results),
    )


def item_row(result: ItemResult) -> dict[str, object]:
    """One row of the per-item table logged to MLflow."""
    row: dict[str, object] = {
        "item_id": result.item.id,
        "category": result.item.category or "",
        "question": result.item.question,
        "gold": result.item.answer or "",
        "answer": result.answer or "",
        "correct": result.correct,
        "status": result.status,
        "failures": "; ".join(result.failures),
        "method": result.decision.method,
        "merge_path": result.decision.path or "",
        "merger": result.decision.agent or "",
        "model_ms": round(result.model_ms, 1),
        "wall_ms": round(result.wall_ms, 1),
        "analysis_ms": round(result.analysis_ms, 1),
        "decision_ms": round(result.decision_ms, 1),
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "cost": result.usage.cost,
        "tally": result.decision.tally or {},
        "margin": result.decision.margin,
    }
    if result.routing:
        row["routing.panel"] = ",".join(result.routing.panel)
        row["routing.merger"] = result.routing.merger
        row["routing.state_version"] = result.routing.state_version
        row["routing.probe"] = ",".join(result.routing.probe)
    for a in result.analyses:
        name = result.shown_as(a)
        key = name if a.slot == 0 else f"{name}#{a.slot}"
        row[f"answer.{key}"] = a.answer or ""
        row[f"path.{key}"] = a.path
        if a.distribution:  # the agent's probability of its answer, where the endpoint sent them
            row[f"p.{key}"] = round(a.distribution.get(a.answer or "", 0.0), 4)
    return row


class Results(list[ItemResult]):
    """Item results in item order, with the views a notebook wants."""

    def summary(self) -> RunSummary:
        return summarize(self)

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per item (the same columns as MLflow's `items.json`)."""
        import pandas as pd

        return pd.DataFrame([item_row(r) for r in self])
