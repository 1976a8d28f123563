"""Router state: per agent (and optionally per category) EMAs of accuracy, latency, cost and
stability, each with its observation count. Pure functions update it; nothing here does I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field

from orch.records import Observation
from orch.routers.policy import EmaPolicy, RouterPolicy

__all__ = ["SIGNALS", "AgentStats", "Ema", "RouterState", "apply", "fold_once", "stats_for"]

SIGNALS = ("accuracy", "latency_ms", "cost", "stability")
STATE_SCHEMA = 1


class Ema(BaseModel):
    """One signal's moving average. `raw` is the uncorrected accumulator used by bias correction."""

    model_config = ConfigDict(frozen=True)

    value: float
    raw: float = 0.0
    n: int = 0

    def update(self, x: float, policy: EmaPolicy) -> Ema:
        a = policy.alpha
        raw = (1 - a) * self.raw + a * x
        n = self.n + 1
        if policy.init == "first_observation" and self.n == 0:
            return Ema(value=x, raw=raw, n=n)
        if policy.bias_correction:
            return Ema(value=raw / (1 - (1 - a) ** n), raw=raw, n=n)
        return Ema(value=(1 - a) * self.value + a * x, raw=raw, n=n)


class AgentStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    accuracy: Ema
    latency_ms: Ema
    cost: Ema
    stability: Ema

    @classmethod
    def cold(cls, policy: EmaPolicy) -> AgentStats:
        """Cold-start values; with bias correction or first-observation init they only rank agents not
        yet observed, since the first observation then becomes the estimate."""
        c = policy.cold_start
        return cls(
            accuracy=Ema(value=c.accuracy),
            latency_ms=Ema(value=c.latency_ms),
            cost=Ema(value=c.cost),
            stability=Ema(value=c.stability),
        )

    @property
    def n(self) -> int:
        return self.accuracy.n

    def update(self, obs: Observation, policy: EmaPolicy) -> AgentStats:
        """Update the signals the observation carries; None leaves a signal as it was."""

        def step(ema: Ema, x: float | None) -> Ema:
            return ema if x is None else ema.update(x, policy)

        return AgentStats(
            accuracy=step(self.accuracy, obs.correct),
            latency_ms=step(self.latency_ms, obs.latency_ms),
            cost=step(self.cost, obs.cost),
            stability=step(self.stability, None if obs.ok is None else float(obs.ok)),
        )


class RouterState(BaseModel):
    """A router's state; `version` counts the updates applied since it was created."""

    schema_version: int = STATE_SCHEMA
    policy_hash: str
    version: int = 0
    agents: dict[str, AgentStats] = Field(default_factory=dict)
    categories: dict[str, dict[str, AgentStats]] = Field(default_factory=dict)
    applied: list[str] = Field(default_factory=list)
    """Feedback ids already applied (e.g. `run/item`), so delayed feedback counts once only."""
    last_seen: dict[str, int] = Field(default_factory=dict)
    """Per agent, the version whose update last observed it (the probe asks the least recent one)."""

    @classmethod
    def fresh(cls, policy: RouterPolicy) -> RouterState:
        return cls(policy_hash=policy.policy_hash)

    @property
    def state_hash(self) -> str:
        # states persisted before `last_seen` existed keep their hash
        dump = self.model_dump(mode="json", exclude=set() if self.last_seen else {"last_seen"})
        return hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:16]


def stats_for(state: RouterState, agent: str, category: str | None, policy: RouterPolicy) -> AgentStats:
    """The EMAs to rank `agent` with: its category's once that has enough observations, else global."""
    if policy.ema.per_category and category is not None:
        per = state.categories.get(category, {}).get(agent)
        if per is not None and per.n >= policy.ema.min_category_n:
            return per
    return state.agents.get(agent) or AgentStats.cold(policy.ema)


def apply(
    state: RouterState, observations: Iterable[Observation], policy: RouterPolicy, feedback_id: str | None = None
) -> RouterState:
    """A new state with the observations folded in, in the order given (EMAs are order-dependent)."""
    agents = dict(state.agents)
    categories = {c: dict(per) for c, per in state.categories.items()}
    last_seen = dict(state.last_seen)
    for obs in observations:
        last_seen[obs.agent] = state.version + 1
        agents[obs.agent] = agents.get(obs.agent, AgentStats.cold(policy.ema)).update(obs, policy.ema)
        if policy.ema.per_category and obs.category is not None:
            per = categories.setdefault(obs.category, {})
            per[obs.agent] = per.get(obs.agent, AgentStats.cold(policy.ema)).update(obs, policy.ema)
    applied = [*state.applied, feedback_id] if feedback_id else list(state.applied)
    return state.model_copy(
        update={
            "agents": agents,
            "categories": categories,
            "applied": applied,
            "last_seen": last_seen,
            "version": state.version + 1,
        }
    )


def fold_once(
    observations: list[Observation], policy: RouterPolicy, feedback_id: str
) -> Callable[[RouterState | None], RouterState | None]:
    """Fold into whatever the store holds now (another process may have updated it), once per id."""

    def update(current: RouterState | None) -> RouterState | None:
        base = current or RouterState.fresh(policy)
        if feedback_id in base.applied:
            return None
        return apply(base, observations, policy, feedback_id=feedback_id)

    return update
