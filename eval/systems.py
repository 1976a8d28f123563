"""The systems an evaluation compares, each a graph spec, named so scripts can list them.

    single:ID   the agent answers directly (single:* = every panel agent)
    cot:ID      the agent reasons step by step first: the compute-matched baseline (cot:*)
    vote        every panel agent answers directly; majority vote
    sc[:ID[:K]] self-consistency: K sampled chains of thought of one agent (default: the pool's
                strongest, i.e. the first declared; K defaults to ORCH's measured token budget)
    NAME|PATH   any graph: a built-in (orch, orch-paper, …) or a spec file

Baselines are single, cot, vote and sc; every other graph is a target compared against each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from orch.config import PoolConfig
from orch.errors import SpecError, did_you_mean
from orch.graphs import GraphSpec, load_graph_spec

__all__ = ["STANDARD_SYSTEMS", "System", "parse_systems", "self_consistency_spec"]

STANDARD_SYSTEMS = "single:*,cot:*,vote,orch,sc"
"""The default comparison set: every agent alone, with reasoning, a vote, ORCH, and self-consistency."""

COT_CHARS = 400
SC_TEMPERATURE = 0.7


class System(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["single", "cot", "vote", "sc", "graph"]
    spec: GraphSpec | None
    """None only for `sc` before its sample count is known (it follows ORCH's budget)."""
    source: str
    agent: str | None = None
    samples: int | None = None
    as_baseline: bool = False
    """A graph compared as a baseline (e.g. `orch` when the target is `orch-ema`)."""

    @property
    def baseline(self) -> bool:
        return self.kind != "graph" or self.as_baseline


def _direct_spec(name: str, agent: str, reasoning_chars: int) -> GraphSpec:
    return GraphSpec.from_dict(
        {
            "name": name.replace(":", "-"),
            "description": f"{agent} answers directly" + (" after step-by-step reasoning" if reasoning_chars else ""),
            "nodes": {"answer": {"type": "direct", "config": {"agent": agent, "reasoning_chars": reasoning_chars}}},
            "edges": [["START", "answer"], ["answer", "END"]],
        }
    )


def self_consistency_spec(agent: str, samples: int, *, reasoning_chars: int = COT_CHARS) -> GraphSpec:
    """K sampled chains of thought of one agent (temperature 0.7, seeds seed…seed+K−1), then a vote."""
    config = {"agent": agent, "reasoning_chars": reasoning_chars, "samples": samples, "temperature": SC_TEMPERATURE}
    return GraphSpec.from_dict(
        {
            "name": f"sc-{agent}-{samples}",
            "description": f"self-consistency: {samples} sampled chains of thought of {agent}, majority vote",
            "nodes": {"sample": {"type": "direct", "config": config}, "vote": {"type": "vote"}},
            "edges": [["START", "sample"], ["sample", "vote"], ["vote", "END"]],
        }
    )


def _agents(which: str, pool: PoolConfig, token: str) -> list[str]:
    if which == "*":
        return list(pool.default_panel)
    if which not in pool.agent_ids:
        raise SpecError(
            "--systems",
            token,
            f"unknown agent {which!r}.{did_you_mean(which, pool.agent_ids)} Agents: {list(pool.agent_ids)}",
        )
    return [which]


def parse_systems(
    text: str | None, pool: PoolConfig, *, cot_chars: int = COT_CHARS, baselines: Sequence[str] = ()
) -> list[System]:
    """Systems from a comma-separated list (default: `STANDARD_SYSTEMS`), in a fixed order:
    baselines first, then targets, then self-consistency (its budget follows the targets').
    Graphs named in `baselines` are compared as baselines too."""
    systems: list[System] = []
    for token in [t.strip() for t in (text or STANDARD_SYSTEMS).split(",") if t.strip()]:
        head, _, rest = token.partition(":")
        if head in ("single", "cot") and rest:
            for agent in _agents(rest, pool, token):
                chars = cot_chars if head == "cot" else 0
                name = f"{head}:{agent}"
                systems.append(
                    System(name=name, kind=head, spec=_direct_spec(name, agent, chars), source="built-in", agent=agent)
                )
        elif head == "sc":
            agent, _, k = rest.partition(":")
            agent = agent or pool.agent_ids[0]
            _agents(agent, pool, token)
            if k and not (k.isdigit() and int(k) >= 2):
                raise SpecError("--systems", token, f"sample count must be an integer of at least 2, got {k!r}")
            samples = int(k) if k else None
            spec = self_consistency_spec(agent, samples, reasoning_chars=cot_chars) if samples else None
            systems.append(
                System(name=f"sc:{agent}", kind="sc", spec=spec, source="built-in", agent=agent, samples=samples)
            )
        else:
            spec, path = load_graph_spec(token)
            kind = "vote" if token == "vote" else "graph"
            name = token if kind == "vote" or not Path(token).suffix else spec.name
            systems.append(System(name=name, kind=kind, spec=spec, source=str(path)))
    names = [s.name for s in systems]
    for name in names:
        if names.count(name) > 1:
            raise SpecError("--systems", name, "listed twice")
    for name in baselines:
        if name not in names:
            raise SpecError("--baseline", name, f"not among the systems {names}{did_you_mean(name, names)}")
    systems = [s.model_copy(update={"as_baseline": True}) if s.name in baselines else s for s in systems]
    order = {"single": 0, "cot": 0, "vote": 0, "graph": 1, "sc": 2}
    return sorted(
        systems, key=lambda s: (order[s.kind], not s.as_baseline)
    )  # stable: keeps the user's order within a group
