"""Check a `GraphSpec` against the node registry (and the pool) and build a LangGraph `StateGraph`.

Fan-out uses `Send` (one copy of the node per agent or task) and fan-in the `analyses` reducer;
a node with several predecessors waits for all of them. Every problem is one `SpecError`
naming the spec file and the dotted key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from pydantic import ValidationError

from orch.config import PoolConfig
from orch.errors import SpecError, did_you_mean
from orch.graphs.spec import END, START, GraphSpec, NodeSpec
from orch.nodes.base import NODE_REGISTRY, Node, NodeRegistry
from orch.nodes.runtime import RunContext
from orch.nodes.state import OrchState
from orch.yamlio import dotted

__all__ = ["BUILTIN_ROLES", "CompiledSpec", "build_state_graph", "compile_spec", "required_agents"]

BUILTIN_ROLES = ("merger", "dispatcher")
_TERMINALS = {START: LG_START, END: LG_END}


class CompiledSpec:
    """A spec with its instantiated nodes, ready to build a graph or list the agents it needs."""

    def __init__(self, spec: GraphSpec, nodes: dict[str, Node], source: str) -> None:
        self.spec = spec
        self.nodes = nodes
        self.source = source


def _instantiate(spec: GraphSpec, registry: NodeRegistry, source: str) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for node_id, node_spec in spec.nodes.items():
        if node_id in _TERMINALS or node_id in _TERMINALS.values():
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
        except Exception as exc:  # a user's node constructor: name the node, keep the cause
            raise SpecError(source, f"nodes.{node_id}", f"cannot build node: {exc}") from exc
    return nodes


def _check_edges(spec: GraphSpec, nodes: dict[str, Node], source: str) -> None:
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


def _check_agents(spec: GraphSpec, nodes: dict[str, Node], pool: PoolConfig, source: str) -> None:
    agents = pool.agent_ids
    roles = {*BUILTIN_ROLES, *pool.roles, *spec.roles}
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
        for field in node.agent_fields:
            name = getattr(node.config, field)
            if name is not None and name not in agents and name not in roles:
                raise SpecError(
                    source,
                    f"nodes.{node_id}.config.{field}",
                    f"{name!r} is neither an agent nor a role.{did_you_mean(name, [*agents, *roles])} "
                    f"Agents: {list(agents)}; roles: {sorted(roles)}",
                )


def compile_spec(
    spec: GraphSpec,
    *,
    source: Path | str = "<spec>",
    registry: NodeRegistry = NODE_REGISTRY,
    pool: PoolConfig | None = None,
) -> CompiledSpec:
    """Validate everything a spec refers to; with `pool`, also every agent and role it names.

    Raises:
        SpecError: unknown node type, bad config field, unknown edge endpoint, missing edge,
            unreachable node, cycle, or an unknown agent — naming the file and the key.
    """
    source = str(source)
    nodes = _instantiate(spec, registry, source)
    _check_edges(spec, nodes, source)
    if pool is not None:
        _check_agents(spec, nodes, pool, source)
    return CompiledSpec(spec, nodes, source)


def _as_langgraph_node(node: Node) -> Callable[..., Any]:
    async def run(state: dict, runtime: Runtime[RunContext]) -> dict:
        return await node(state, runtime)

    run.__name__ = run.__qualname__ = node.node_id
    return run


def _sender(node_id: str, node_spec: NodeSpec) -> Callable[[dict], list[Send]]:
    fan_out = node_spec.fan_out

    def send(state: dict) -> list[Send]:
        common = {"item": state["item"], "roles": state.get("roles", {})}
        if fan_out == "tasks":
            return [Send(node_id, {**common, **task}) for task in state.get("tasks", [])]
        agents = state.get("panel", []) if fan_out == "panel" else fan_out
        return [Send(node_id, {**common, "agent": agent, "slot": 0}) for agent in agents]

    send.__name__ = f"fan_out_{node_id}"
    return send


def build_state_graph(compiled: CompiledSpec) -> StateGraph:
    """A `StateGraph` over `OrchState`, with `RunContext` as its runtime context."""
    spec = compiled.spec
    builder = StateGraph(OrchState, context_schema=RunContext)
    for node_id, node in compiled.nodes.items():
        builder.add_node(node_id, _as_langgraph_node(node))
    incoming: dict[str, list[str]] = {}
    for src, dst in spec.edges:
        incoming.setdefault(dst, []).append(src)
    for dst, sources in incoming.items():
        target = _TERMINALS.get(dst, dst)
        node_spec = spec.nodes.get(dst)
        if node_spec is not None and node_spec.fan_out is not None:
            builder.add_conditional_edges(_TERMINALS.get(sources[0], sources[0]), _sender(dst, node_spec), [dst])
        elif len(sources) == 1:
            builder.add_edge(_TERMINALS.get(sources[0], sources[0]), target)
        else:  # a join: wait for every predecessor
            builder.add_edge([_TERMINALS.get(s, s) for s in sources], target)
    return builder


def required_agents(compiled: CompiledSpec, pool: PoolConfig) -> tuple[str, ...]:
    """Agent ids a run of this graph may call, so only their local servers are started."""
    spec = compiled.spec
    roles = {**pool.roles, **spec.roles}
    panel = spec.panel or pool.default_panel
    needed: set[str] = set()
    for node_id, node in compiled.nodes.items():
        fan_out = spec.nodes[node_id].fan_out
        if fan_out in ("panel", "tasks"):
            needed.update(panel)
        elif isinstance(fan_out, tuple):
            needed.update(fan_out)
        for field in node.agent_fields:
            name = getattr(node.config, field)
            if name is not None:
                needed.add(name if name in pool.agent_ids else roles.get(name) or pool.role(name))
        needed.update(node.extra_agents(pool.agent_ids))
    return tuple(sorted(needed))
