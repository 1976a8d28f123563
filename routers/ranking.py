"""Ranking agents from their EMAs, with a total tie-break order: utility, then agent id."""

from __future__ import annotations

from collections.abc import Sequence

from orch.records import RoutingDecision
from orch.routers.policy import RouterPolicy
from orch.routers.state import AgentStats, RouterState, stats_for

__all__ = ["decide", "utility"]


def utility(stats: AgentStats, policy: RouterPolicy) -> float:
    """The paper's utility: `q + 0.1·stability − 0.3·min(latency_ms/5000, 3) − 0.1·min(cost/0.002, 3)`."""
    w = policy.weights
    return (
        stats.accuracy.value
        + w.stability * stats.stability.value
        - w.latency * min(stats.latency_ms.value / w.latency_scale_ms, w.cap)
        - w.cost * min(stats.cost.value / w.cost_scale, w.cap)
    )


def _sort_key(agent: str, stats: AgentStats, policy: RouterPolicy) -> tuple:
    if policy.ranking == "lexicographic":
        q = round(stats.accuracy.value / policy.precision)
        return (-q, -stats.stability.value, stats.latency_ms.value, stats.cost.value, agent)
    return (-utility(stats, policy), agent)


def decide(
    state: RouterState,
    policy: RouterPolicy,
    agents: Sequence[str],
    category: str | None = None,
    *,
    router_id: str = "",
) -> RoutingDecision:
    """Rank `agents` on the state; the top k form the panel, the top one merges."""
    stats = {a: stats_for(state, a, category, policy) for a in agents}
    ranking = sorted(agents, key=lambda a: _sort_key(a, stats[a], policy))
    return RoutingDecision(
        panel=ranking[: policy.k],
        merger=ranking[0],
        ranking=ranking,
        utilities={a: round(utility(stats[a], policy), 6) for a in ranking},
        ema={
            a: {
                "accuracy": s.accuracy.value,
                "latency_ms": s.latency_ms.value,
                "cost": s.cost.value,
                "stability": s.stability.value,
                "n": s.n,
            }
            for a, s in stats.items()
        },
        state_version=state.version,
        state_hash=state.state_hash,
        category=category,
        router_id=router_id,
    )
