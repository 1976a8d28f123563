"""Checks of a spec against the node kinds and the pool: every problem is one `SpecError`
naming the spec file and the dotted key (`graphs/orch.yaml: nodes.merge.config.agent: ...`)."""

from __future__ import annotations

from pydantic import ValidationError

from orch.config import PoolConfig
from orch.errors import ConfigError, SpecError, did_you_mean
from orch.graphs.kinds import NodeRegistry
from orch.graphs.spec import END, START, GraphSpec
from orch.nodes.base import Node, agent_fields
from orch.yamlio import dotted

__all__ = ["check_agents", "check_edges", "instantiate"]
_TERMINALS = (START, END, "__start__", "__end__")


def instantiate(spec: GraphSpec, registry: NodeRegistry, source: str) -> dict[str, Node]:
    """One node object per spec node, each config validated by its kind's `Config`."""
    nodes: dict[str, Node] = {}
    for node_id, node_spec in spec.nodes.items():
        if node_id in _TERMINALS:
            raise SpecError(source, f"nodes.{node_id}", f"{node_id!r} is reserved for the graph's entry/exit")
        try:
            kind = registry.resolve(node_spec.type)
        except LookupError as exc:
            raise SpecError(source, f"nodes.{node_id}.type", str(exc)) from exc
        try:
            config = kind.Config.model_validate(node_spec.config)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
            if first["type"] == "extra_forbidden":
                message += f"; valid fields of {kind.kind!r}: {sorted(kind.Config.model_fields)}"
            raise SpecError(source, f"nodes.{node_id}.config.{dotted(first['loc'])}", message) from exc
        try:
            nodes[node_id] = kind(node_id, config)
        except ConfigError as exc:  # a node's own check of its config (a missing profile): in this spec
            if exc.file != "graph":  # another file is at fault (a corrupt profile): keep its name
                raise SpecError(source, f"nodes.{node_id}", str(exc)) from exc
            raise SpecError(source, exc.where or f"nodes.{node_id}", exc.message) from exc
        except Exception as exc:  # a user's node constructor: name the node, keep the cause
            raise SpecError(source, f"nodes.{node_id}", f"cannot build node: {exc}") from exc
    return nodes


def check_edges(spec: GraphSpec, nodes: dict[str, Node], source: str) -> None:
    """Every edge names a node, every node is reached and leads on, no cycle, something decides."""
    known = [*nodes, START, END]
    for i, (src, dst) in enumerate(spec.edges):
        for j, name in enumerate((src, dst)):
            if name not in known:
                raise SpecError(
                    source,
                    f"edges[{i}][{j}]",
                    f"unknown node {name!r}.{did_you_mean(name, known)} Nodes: {list(nodes)}",
                )
        if src == END:
            raise SpecError(source, f"edges[{i}][0]", "END has no outgoing edges")
        if dst == START:
            raise SpecError(source, f"edges[{i}][1]", "no edge may lead into START")
    successors: dict[str, list[str]] = {name: [] for name in known}
    predecessors: dict[str, list[str]] = {name: [] for name in known}
    for src, dst in spec.edges:
        successors[src].append(dst)
        predecessors[dst].append(src)
    if not successors[START]:
        raise SpecError(source, "edges", "no edge leaves START; add e.g. [START, analyze]")
    if not predecessors[END]:
        raise SpecError(source, "edges", "no edge reaches END; add e.g. [merge, END]")
    for node_id in nodes:
        if not predecessors[node_id]:
            raise SpecError(source, f"nodes.{node_id}", "no edge leads to this node; add one in edges")
        if not successors[node_id]:
            raise SpecError(source, f"nodes.{node_id}", "no edge leaves this node; add one in edges (e.g. to END)")
    reached = _reach(START, successors)
    for node_id in nodes:
        if node_id not in reached:
            raise SpecError(source, f"nodes.{node_id}", "unreachable from START")
    cycle = _find_cycle(list(nodes), successors)
    if cycle:
        raise SpecError(
            source,
            "edges",
            f"cycle without exit: {' -> '.join(cycle)} (orch specs have no conditional edges, so a cycle never ends)",
        )
    for node_id, node_spec in spec.nodes.items():
        if node_spec.fan_out is not None and len(predecessors[node_id]) != 1:
            raise SpecError(
                source,
                f"nodes.{node_id}.fan_out",
                f"a fanned-out node needs exactly one incoming edge, it has {len(predecessors[node_id])}",
            )
    deciders = [n for n, node in nodes.items() if node.writes_decision(spec.nodes[n].fan_out is not None)]
    if not deciders:
        raise SpecError(
            source, "nodes", "no node decides the answer: add a merge, a vote, or a direct node without fan_out"
        )


def _reach(start: str, successors: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in successors[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _find_cycle(order: list[str], successors: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in successors.get(node, []):
            if nxt in (START, END):
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in order:
        if node not in state and (found := visit(node)):
            return found
    return None


def check_agents(spec: GraphSpec, nodes: dict[str, Node], pool: PoolConfig, source: str) -> None:
    """Every agent and role the spec names exists in the pool."""
    agents = pool.agent_ids
    roles = {*pool.default_roles(), *spec.roles}
    for i, agent_id in enumerate(spec.panel or ()):
        if agent_id not in agents:
            raise SpecError(
                source,
                f"panel[{i}]",
                f"unknown agent {agent_id!r}.{did_you_mean(agent_id, agents)} Agents: {list(agents)}",
            )
    for role, agent_id in spec.roles.items():
        if agent_id not in agents:
            raise SpecError(source, f"roles.{role}", f"unknown agent {agent_id!r}.{did_you_mean(agent_id, agents)}")
    for node_id, node in nodes.items():
        fan_out = spec.nodes[node_id].fan_out
        if isinstance(fan_out, tuple):
            for i, agent_id in enumerate(fan_out):
                if agent_id not in agents:
                    raise SpecError(
                        source,
                        f"nodes.{node_id}.fan_out[{i}]",
                        f"unknown agent {agent_id!r}.{did_you_mean(agent_id, agents)} Agents: {list(agents)}",
                    )
        for field in agent_fields(type(node.config)):
            name = getattr(node.config, field)
            if name is not None and name not in agents and name not in roles:
                raise SpecError(
                    source,
                    f"nodes.{node_id}.config.{field}",
                    f"{name!r} is neither an agent nor a role.{did_you_mean(name, [*agents, *roles])} "
                    f"Agents: {list(agents)}; roles: {sorted(roles)}",
                )
