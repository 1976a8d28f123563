"""Figures over a list of item results: accuracy, invalid rate, latency split, tokens, cost,
and how often each agent's structured output had to fall back to text parsing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from orch.runner import ItemResult

__all__ = ["AgentSummary", "RunSummary", "item_row", "summarize"]

STRUCTURED_PATHS = frozenset({"json"})


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


class RunSummary(BaseModel):
    items: int
    graded: int
    correct: int
    invalid: int
    accuracy: float | None
    invalid_rate: float
    latency_ms_mean: float
    latency_ms_p50: float
    latency_ms_p95: float
    analysis_ms_mean: float
    decision_ms_mean: float
    input_tokens_per_item: float
    output_tokens_per_item: float
    calls_per_item: float
    cost_total: float
    decision_methods: dict[str, int]
    agents: list[AgentSummary]

    def metrics(self) -> dict[str, float | None]:
        """Flat metric names, identical across graphs so MLflow compares runs side by side."""
        out: dict[str, float | None] = {
            "accuracy": self.accuracy,
            "invalid_rate": self.invalid_rate,
            "items": self.items,
            "latency_ms_mean": self.latency_ms_mean,
            "latency_ms_p50": self.latency_ms_p50,
            "latency_ms_p95": self.latency_ms_p95,
            "analysis_ms_mean": self.analysis_ms_mean,
            "decision_ms_mean": self.decision_ms_mean,
            "input_tokens_per_item": self.input_tokens_per_item,
            "output_tokens_per_item": self.output_tokens_per_item,
            "calls_per_item": self.calls_per_item,
            "cost_total": self.cost_total,
            "cost_per_item": self.cost_total / self.items if self.items else 0.0,
        }
        for agent in self.agents:
            out[f"agent.{agent.agent}.fallback_rate"] = agent.fallback_rate
            if self.graded:
                out[f"agent.{agent.agent}.accuracy"] = agent.correct / agent.outputs if agent.outputs else None
        return out


def summarize(results: Sequence[ItemResult]) -> RunSummary:
    n = len(results)
    graded = [r for r in results if r.correct is not None]
    latencies = np.array([r.latency_ms for r in results]) if results else np.zeros(1)
    by_agent: dict[str, list] = {}
    for r in results:
        for a in r.analyses:
            by_agent.setdefault(a.agent, []).append((r, a))
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
    methods: dict[str, int] = {}
    for r in results:
        methods[r.decision.method] = methods.get(r.decision.method, 0) + 1
    per_item = max(n, 1)
    return RunSummary(
        items=n,
        graded=len(graded),
        correct=sum(bool(r.correct) for r in graded),
        invalid=sum(not r.valid for r in results),
        accuracy=sum(bool(r.correct) for r in graded) / len(graded) if graded else None,
        invalid_rate=sum(not r.valid for r in results) / per_item,
        latency_ms_mean=float(latencies.mean()),
        latency_ms_p50=float(np.percentile(latencies, 50)),
        latency_ms_p95=float(np.percentile(latencies, 95)),
        analysis_ms_mean=sum(r.analysis_ms for r in results) / per_item,
        decision_ms_mean=sum(r.decision_ms for r in results) / per_item,
        input_tokens_per_item=sum(r.usage.input_tokens for r in results) / per_item,
        output_tokens_per_item=sum(r.usage.output_tokens for r in results) / per_item,
        calls_per_item=sum(r.usage.calls for r in results) / per_item,
        cost_total=sum(r.usage.cost for r in results),
        decision_methods=dict(sorted(methods.items())),
        agents=agents,
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
        "method": result.decision.method,
        "merge_path": result.decision.path or "",
        "merger": result.decision.agent or "",
        "latency_ms": round(result.latency_ms, 1),
        "analysis_ms": round(result.analysis_ms, 1),
        "decision_ms": round(result.decision_ms, 1),
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "cost": result.usage.cost,
        "tally": result.decision.tally or {},
    }
    if result.routing:
        row["routing.panel"] = ",".join(result.routing.get("panel", []))
        row["routing.merger"] = result.routing.get("merger", "")
        row["routing.state_version"] = result.routing.get("state_version")
    for a in result.analyses:
        key = a.agent if a.slot == 0 else f"{a.agent}#{a.slot}"
        row[f"answer.{key}"] = a.answer or ""
        row[f"path.{key}"] = a.path
    return row
