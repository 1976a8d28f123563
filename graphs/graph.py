"""A checked graph — a spec with its node objects — and its compilation to LangGraph.

`Graph.compile()` returns a LangGraph `CompiledStateGraph` over `OrchState` with `RunContext` as
its context schema: it draws, invokes, streams and batches like any LangGraph graph. Each node is
added as the callable object it is, with node metadata (its type, fan-out and agents); a fan-out
is one typed `Send` per agent or task, and the `analyses` channel orders itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from orch.config import PoolConfig
from orch.errors import SpecError
from orch.graphs.check import check_agents, check_edges, instantiate
from orch.graphs.kinds import NODE_KINDS, NodeRegistry
from orch.graphs.spec import END, START, GraphSpec, NodeSpec
from orch.nodes.base import Node, agent_fields
from orch.nodes.context import RunContext
from orch.nodes.state import Assignment, OrchState
from orch.nodes.traced import TracedNode
from orch.routers.nodes import Route

if TYPE_CHECKING:
    from langgraph.graph import StateGraph
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.runtime import Runtime
    from langgraph.types import Send

__all__ = ["Cast", "Graph"]


class Cast(NamedTuple):
    """Who plays which part when a graph runs on a pool: its default analysts and its roles."""

    panel: tuple[str, ...]
    roles: dict[str, str]


class Graph:
    """A spec whose node types, configs and edges are checked (and, with `pool`, its agents).

    Args:
        spec: the validated spec.
        source: where it came from (a file path, or `<python>`), named in every error.
        pool: check every agent and role it names against this pool.
        registry: the node kinds specs may name.

    Raises:
        SpecError: unknown node type, bad config field, unknown edge endpoint, missing edge,
            unreachable node, cycle, or an unknown agent — naming the file and the key.
    """

    def __init__(
        self,
        spec: GraphSpec,
        *,
        source: Path | str = "<python>",
        pool: PoolConfig | None = None,
        registry: NodeRegistry = NODE_KINDS,
    ) -> None:
        self.spec = spec
        self.source = str(source)
        self.nodes: dict[str, Node] = instantiate(spec, registry, self.source)
        check_edges(spec, self.nodes, self.source)
        routes = [node for node in self.nodes.values() if isinstance(node, Route)]
        if len(routes) > 1:
            raise SpecError(self.source, "nodes", "a graph may have one route node")
        self.route: Route | None = routes[0] if routes else None
        """The graph's `route` node, if it is routed."""
        if pool is not None:
            self.check(pool)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<yaml>", *, pool: PoolConfig | None = None) -> Graph:
        return cls(GraphSpec.from_text(text, source), source=source, pool=pool)

    def to_yaml(self) -> str:
        """The spec as YAML: `Graph.from_yaml(graph.to_yaml())` is the same graph."""
        return self.spec.to_yaml()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def spec_hash(self) -> str:
        return self.spec.spec_hash

    @property
    def state_versions(self) -> dict[str, str]:
        """The versioned state the nodes read (reliability profiles), e.g. `{"mmlu-dev": "mmlu-dev@v2 (…)"}`."""
        versions: dict[str, str] = {}
        for node in self.nodes.values():
            versions.update(node.state_versions())
        return dict(sorted(versions.items()))

    def check(self, pool: PoolConfig) -> Graph:
        """Check every agent and role the graph names against `pool`; returns the graph."""
        check_agents(self.spec, self.nodes, pool, self.source)
        return self

    def cast(self, pool: PoolConfig) -> Cast:
        """The default panel and roles on `pool`: the spec's, over the pool's; `merger` defaults to the
        first agent in priority order."""
        return Cast(tuple(self.spec.panel or pool.default_panel), {**pool.default_roles(), **self.spec.roles})

    def required_agents(self, pool: PoolConfig) -> tuple[str, ...]:
        """Agent ids a run of this graph may call, so only their local servers are started."""
        cast = self.cast(pool)
        needed: set[str] = set()
        for node_id, node in self.nodes.items():
            fan_out = self.spec.nodes[node_id].fan_out
            if fan_out in ("panel", "tasks"):
                needed.update(cast.panel)
            elif isinstance(fan_out, tuple):
                needed.update(fan_out)
            for field in agent_fields(type(node.config)):
                name = getattr(node.config, field)
                if name is not None:
                    needed.add(cast.roles.get(name, name))
            needed.update(node.extra_agents(pool.agent_ids))
        return tuple(sorted(needed))

    # -- LangGraph ---------------------------------------------------------------------------
    def state_graph(self, cast: Cast | None = None) -> StateGraph:
        """A `StateGraph` over `OrchState`; with `cast`, node metadata names the agents."""
        from langgraph.graph import StateGraph

        return self.add_to(StateGraph(OrchState, context_schema=RunContext), cast)

    def add_to(
        self,
        builder: StateGraph,
        cast: Cast | None = None,
        *,
        after: str = START,
        before: str = END,
        context: RunContext | None = None,
    ) -> StateGraph:
        """Add this graph's nodes and edges to `builder`, between a host's own nodes; returns `builder`.

        Args:
            after, before: the builder's nodes this graph's `START` and `END` edges attach to
                (default: the builder's own START and END).
            context: a run context every node and fan-out gets in place of the invocation's, for a
                host whose runs carry JSON context only (LangGraph's server, see `orch.serve`).
        """
        from langgraph.graph import END as LG_END
        from langgraph.graph import START as LG_START

        terminals = {START: LG_START if after == START else after, END: LG_END if before == END else before}
        for node_id, node in self.nodes.items():
            runs = TracedNode(node, context=context)
            builder.add_node(node_id, runs, metadata=self._metadata(node_id, node, cast))
        incoming: dict[str, list[str]] = {}
        for src, dst in self.spec.edges:
            incoming.setdefault(dst, []).append(src)
        for dst, sources in incoming.items():
            node_spec = self.spec.nodes.get(dst)
            first = terminals.get(sources[0], sources[0])
            if node_spec is not None and node_spec.fan_out is not None:
                builder.add_conditional_edges(first, _sender(dst, node_spec, context), [dst])
            elif len(sources) == 1:
                builder.add_edge(first, terminals.get(dst, dst))
            else:  # a join: wait for every predecessor
                builder.add_edge([terminals.get(s, s) for s in sources], terminals.get(dst, dst))
        return builder

    def compile(self, cast: Cast | None = None, **kwargs: Any) -> CompiledStateGraph:
        """The LangGraph graph (`kwargs` go to `StateGraph.compile`: checkpointer, store, interrupts)."""
        return self.state_graph(cast).compile(name=self.name, **kwargs)

    def _metadata(self, node_id: str, node: Node, cast: Cast | None) -> dict[str, str]:
        node_spec = self.spec.nodes[node_id]
        meta = {"type": node_spec.type}
        if node_spec.fan_out is not None:
            meta["fan_out"] = node_spec.fan_out if isinstance(node_spec.fan_out, str) else "agents"
        if cast is None:
            return meta
        routed = self.route is not None
        if node_spec.fan_out in ("panel", "tasks"):
            meta["agents"] = f"routed: the top {self.route.config.policy.k}" if self.route else ", ".join(cast.panel)
        elif isinstance(node_spec.fan_out, tuple):
            meta["agents"] = ", ".join(node_spec.fan_out)
        merger = "routed: the most accurate" if routed and self.route.config.policy.merger == "accuracy" else ""
        for field in agent_fields(type(node.config)):
            name = getattr(node.config, field)
            if name is not None:
                routed_merger = merger or "routed: the top one"
                meta[field] = routed_merger if routed and name == "merger" else cast.roles.get(name, name)
        return meta

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, nodes={list(self.nodes)}, source={self.source!r})"


def _sender(
    node_id: str, node_spec: NodeSpec, bound: RunContext | None = None
) -> Callable[[Mapping, Runtime[RunContext]], list[Send]]:
    """One `Send` per analyst: the panel (the router's or the context's), the tasks, or listed agents;
    `bound` replaces the invocation's context (see `Graph.add_to`)."""
    # Module globals, not locals: LangGraph resolves `send`'s annotations in this module's namespace.
    global Runtime, Send
    from langgraph.runtime import Runtime
    from langgraph.types import Send

    fan_out = node_spec.fan_out

    def send(state: Mapping, runtime: Runtime[RunContext]) -> list[Send]:
        roles = state.get("roles") or {}
        if fan_out == "tasks":
            payloads = [Assignment(item=state["item"], roles=roles, **task) for task in state.get("tasks", [])]
        else:
            if fan_out == "panel":
                context = bound or runtime.context
                agents = context.panel_for(state) if isinstance(context, RunContext) else state.get("panel", [])
            else:
                agents = fan_out
            payloads = [Assignment(item=state["item"], roles=roles, agent=agent, slot=0) for agent in agents or ()]
        return [Send(node_id, payload) for payload in payloads]

    send.__name__ = f"fan_out_{node_id}"
    return send
