"""Router figures for logs: EMA values per agent (MLflow draws them as curves over items), and the
observations stored with finished items (so a resumed run can fold them again)."""

from __future__ import annotations

from orch.records import ItemResult, Observation
from orch.routers.policy import RouterPolicy
from orch.routers.ranking import pool_scales, utility
from orch.routers.state import RouterState, stats_for

__all__ = ["ema_metrics", "stored_observations"]


def ema_metrics(state: RouterState, policy: RouterPolicy) -> dict[str, float]:
    """`ema.<agent>.<signal>` and `utility.<agent>` for every agent the state knows."""
    out: dict[str, float] = {}
    scales = pool_scales({a: stats_for(state, a, None, policy) for a in state.agents}, policy)
    for agent in sorted(state.agents):
        stats = stats_for(state, agent, None, policy)
        out[f"ema.{agent}.accuracy"] = stats.accuracy.value
        out[f"ema.{agent}.latency_ms"] = stats.latency_ms.value
        out[f"ema.{agent}.cost"] = stats.cost.value
        out[f"ema.{agent}.stability"] = stats.stability.value
        out[f"utility.{agent}"] = utility(stats, policy, scales)
    return out


def stored_observations(result: ItemResult) -> list[Observation]:
    """The observations a finished item gave its router (none if it was not routed)."""
    return list(result.feedback.observations) if result.feedback else []
