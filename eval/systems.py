"""The systems an evaluation compares, each a graph spec, named so scripts can list them.

    single:ID   the agent answers directly (single:* = every panel agent)
    cot:ID      the agent reasons step by step first: the compute-matched baseline (cot:*)
    vote        every panel agent answers directly; majority vote
    sc[:ID[:K]] self-consistency: K sampled chains of thought of one agent (default: the pool's
                strongest, i.e. the first declared; K defaults to ORCH's measured token budget)
    NAME|PATH   any graph: a built-in (orch, orch-paper, …) or a spec file; or a `Graph` object

Baselines are single, cot, vote and sc; every other graph is a target compared against each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from orch.config import PoolConfig
from orch.errors import SpecError, did_you_mean
from orch.graphs import Graph, GraphSpec, load_graph

__all__ = ["STANDARD_SYSTEMS", "System", "parse_systems", "self_consistency_graph"]

STANDARD_SYSTEMS = "single:*,cot:*,vote,orch,sc"
"""The default comparison set: every agent alone, with reasoning, a vote, ORCH, and self-consistency."""

COT_CHARS = 400
SC_TEMPERATURE = 0.7


@dataclass(frozen=True)
class System:
    """One compared system: a graph (built in for the baselines), its name and its role."""

    name: str
    kind: Literal["single", "cot", "vote", "sc", "graph"]
    graph: Graph | None
    """None only for `sc` before its sample count is known (it follows ORCH's budget)."""
    agent: str | None = None
    samples: int | None = None
    as_baseline: bool = False
    """A graph compared as a baseline (e.g. `orch` when the target is `orch-ema`)."""

    @property
    def baseline(self) -> bool:
        return self.kind != "graph" or self.as_baseline


def _direct_graph(name: str, agent: str, reasoning_chars: int) -> Graph:
    spec = GraphSpec.from_dict(
        {
            "name": name.replace(":", "-"),
            "description": f"{agent} answers directly" + (" after step-by-step reasoning" if reasoning_chars else ""),
            "nodes": {"answer": {"type": "direct", "config": {"agent": agent, "reasoning_chars": reasoning_chars}}},
            "edges": [["START", "answer"], ["answer", "END"]],
        }
    )
    return Graph(spec, source="built-in")


def self_consistency_graph(agent: str, samples: int, *, reasoning_chars: int = COT_CHARS) -> Graph:
    """K sampled chains of thought of one agent (temperature 0.7, seeds seed…seed+K−1), then a vote."""
    config = {"agent": agent, "reasoning_chars": reasoning_chars, "samples": samples, "temperature": SC_TEMPERATURE}
    spec = GraphSpec.from_dict(
        {
            "name": f"sc-{agent}-{samples}",
            "description": f"self-consistency: {samples} sampled chains of thought of {agent}, majority vote",
            "nodes": {"sample": {"type": "direct", "config": config}, "vote": {"type": "vote"}},
            "edges": [["START", "sample"], ["sample", "vote"], ["vote", "END"]],
        }
    )
    return Graph(spec, source="built-in")


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


def _tokens(systems: str | Sequence[str | Graph] | None) -> list[str | Graph]:
    if systems is None:
        systems = STANDARD_SYSTEMS
    listed = systems.split(",") if isinstance(systems, str) else list(systems)
    tokens = [t.strip() if isinstance(t, str) else t for t in listed]
    tokens = [t for t in tokens if not isinstance(t, str) or t]
    if not tokens:
        raise SpecError("--systems", None, f"no system given; e.g. {STANDARD_SYSTEMS}")
    return tokens


def _parse_token(token: str | Graph, pool: PoolConfig, cot_chars: int) -> list[System]:
    if isinstance(token, Graph):
        return [System(name=token.name, kind="graph", graph=token.check(pool))]
    head, _, rest = token.partition(":")
    if head in ("single", "cot") and rest:
        chars = cot_chars if head == "cot" else 0
        return [
            System(name=f"{head}:{agent}", kind=head, graph=_direct_graph(f"{head}:{agent}", agent, chars), agent=agent)
            for agent in _agents(rest, pool, token)
        ]
    if head == "sc":
        agent, _, k = rest.partition(":")
        agent = agent or pool.agent_ids[0]
        _agents(agent, pool, token)
        if k and not (k.isdigit() and int(k) >= 2):
            raise SpecError("--systems", token, f"sample count must be an integer of at least 2, got {k!r}")
        samples = int(k) if k else None
        graph = self_consistency_graph(agent, samples, reasoning_chars=cot_chars) if samples else None
        return [System(name=f"sc:{agent}", kind="sc", graph=graph, agent=agent, samples=samples)]
    graph = load_graph(token, pool=pool)
    kind = "vote" if token == "vote" else "graph"
    return [System(name=token if kind == "vote" or not Path(token).suffix else graph.name, kind=kind, graph=graph)]


def parse_systems(
    systems: str | Sequence[str | Graph] | None,
    pool: PoolConfig,
    *,
    cot_chars: int = COT_CHARS,
    baselines: Sequence[str] = (),
) -> list[System]:
    """Systems from a comma-separated list or a list of names and `Graph`s (default: `STANDARD_SYSTEMS`),
    in a fixed order: baselines first, then targets, then self-consistency (its budget follows the
    targets'). Graphs named in `baselines` are compared as baselines too."""
    parsed = [system for token in _tokens(systems) for system in _parse_token(token, pool, cot_chars)]
    names = [s.name for s in parsed]
    for name in names:
        if names.count(name) > 1:
            raise SpecError("--systems", name, "listed twice")
    for name in baselines:
        if name not in names:
            raise SpecError("--baseline", name, f"not among the systems {names}{did_you_mean(name, names)}")
    parsed = [replace(s, as_baseline=True) if s.name in baselines else s for s in parsed]
    order = {"single": 0, "cot": 0, "vote": 0, "graph": 1, "sc": 2}
    return sorted(parsed, key=lambda s: (order[s.kind], not s.as_baseline))  # stable within a group
