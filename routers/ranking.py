"""Ranking agents from their EMAs, with a total tie-break order: utility (or the lexicographic key),
then agent id. The merger and the probe are picked from that ranking."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from orch.records import RoutingDecision
from orch.routers.policy import RouterPolicy
from orch.routers.state import AgentStats, RouterState, stats_for

__all__ = ["Scales", "decide", "pool_scales", "utility"]

_HIGH_FIRST = frozenset({"accuracy", "stability"})


class Scales(NamedTuple):
    """What latency and cost are divided by in the utility."""

    latency_ms: float
    cost: float


def pool_scales(stats: Mapping[str, AgentStats], policy: RouterPolicy) -> Scales:
    """The configured references, or the candidates' largest EMAs (`pool_max`): relative to the pool."""
    w = policy.weights
    top_latency = max((s.latency_ms.value for s in stats.values()), default=0.0)
    top_cost = max((s.cost.value for s in stats.values()), default=0.0)
    return Scales(
        latency_ms=w.latency_scale_ms if w.latency_reference == "fixed" else top_latency,
        cost=w.cost_scale if w.cost_reference == "fixed" else top_cost,
    )


def _term(value: float, scale: float, cap: float) -> float:
    return 0.0 if scale <= 0 else min(value / scale, cap)


def utility(stats: AgentStats, policy: RouterPolicy, scales: Scales | None = None) -> float:
    """`q + 0.1·stability − 0.3·min(latency_ms/scale, 3) − 0.1·min(cost/scale, 3)`; the paper's scales are
    5000 ms and 0.002. `scales`: from `pool_scales` (None: the configured references)."""
    w = policy.weights
    scales = scales or Scales(w.latency_scale_ms, w.cost_scale)
    return (
        stats.accuracy.value
        + w.stability * stats.stability.value
        - w.latency * _term(stats.latency_ms.value, scales.latency_ms, w.cap)
        - w.cost * _term(stats.cost.value, scales.cost, w.cap)
    )


def _lexicographic_key(stats: AgentStats, policy: RouterPolicy) -> tuple[float, ...]:
    key = []
    for signal in policy.order:
        value = getattr(stats, signal).value
        if signal == "accuracy" and policy.precision > 0:
            value = round(value / policy.precision)
        key.append(-value if signal in _HIGH_FIRST else value)
    return tuple(key)


def _sort_key(agent: str, stats: AgentStats, policy: RouterPolicy, scales: Scales) -> tuple:
    if policy.ranking == "lexicographic":
        return (*_lexicographic_key(stats, policy), agent)
    return (-utility(stats, policy, scales), agent)


def _merger(ranking: list[str], stats: Mapping[str, AgentStats], policy: RouterPolicy) -> str:
    if policy.merger == "top":
        return ranking[0]
    return min(ranking, key=lambda a: (-stats[a].accuracy.value, ranking.index(a)))


def _panel(ranking: list[str], merger: str, k: int) -> list[str]:
    """The top k; a merger the ranking left out takes the last seat, so it analyses and stays observed."""
    panel = ranking[:k]
    if merger not in panel:
        panel = [*panel[: k - 1], merger]
    return panel


def _probe(
    ranking: list[str], panel: list[str], state: RouterState, policy: RouterPolicy, index: int | None
) -> list[str]:
    """On every `probe_every`-th item, the least recently observed agent outside the panel (then by id)."""
    every = policy.probe_every
    if policy.feedback != "answers" or every == 0 or index is None or (index + 1) % every:
        return []
    outside = [a for a in ranking if a not in panel]
    return [min(outside, key=lambda a: (state.last_seen.get(a, -1), a))] if outside else []


def decide(
    state: RouterState,
    policy: RouterPolicy,
    agents: Sequence[str],
    category: str | None = None,
    *,
    router_id: str = "",
    index: int | None = None,
) -> RoutingDecision:
    """Rank `agents` on the state; the top k form the panel, the policy's merger merges. `index`: the
    item's position in item order (the probe's schedule; None: no probe)."""
    stats = {a: stats_for(state, a, category, policy) for a in agents}
    scales = pool_scales(stats, policy)
    ranking = sorted(agents, key=lambda a: _sort_key(a, stats[a], policy, scales))
    merger = _merger(ranking, stats, policy)
    panel = _panel(ranking, merger, policy.k)
    return RoutingDecision(
        panel=panel,
        merger=merger,
        ranking=ranking,
        probe=_probe(ranking, panel, state, policy, index),
        utilities={a: round(utility(stats[a], policy, scales), 6) for a in ranking},
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
