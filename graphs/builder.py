"""Building a graph in Python, node by node, as LangGraph's `StateGraph` is built.

    graph = (
        GraphBuilder("two-then-vote")
        .add_node("answer", "direct", fan_out=["qwen-1.5b", "qwen-0.5b"])
        .add_node("vote", Vote)
        .add_edge(START, "answer").add_edge("answer", "vote").add_edge("vote", END)
        .build()
    )

The result is the same `Graph` a YAML spec gives (`graph.to_yaml()` writes that spec), so a
graph built here is evaluated, logged and drawn like any other.
"""

from __future__ import annotations

from typing import Any

from orch.config import PoolConfig
from orch.graphs.graph import Graph
from orch.graphs.kinds import NODE_KINDS
from orch.graphs.spec import GraphSpec
from orch.nodes.base import Node, NodeConfig

__all__ = ["GraphBuilder"]


def _type_name(kind: str | type[Node]) -> str:
    """The spec's `type:` for a kind: its registered name, or the dotted path of a user's class."""
    if isinstance(kind, str):
        return kind
    if kind.kind in NODE_KINDS and NODE_KINDS.resolve(kind.kind) is kind:
        return kind.kind
    return f"{kind.__module__}:{kind.__qualname__}"


class GraphBuilder:
    """Collects nodes and edges; `build()` checks them all at once, with the same errors as a spec."""

    def __init__(self, name: str, *, description: str = "") -> None:
        self._spec: dict[str, Any] = {"name": name, "description": description, "nodes": {}, "edges": []}

    def add_node(
        self,
        node_id: str,
        kind: str | type[Node],
        config: NodeConfig | dict[str, Any] | None = None,
        *,
        fan_out: str | list[str] | None = None,
        **fields: Any,
    ) -> GraphBuilder:
        """Add a node of `kind` (a name such as `analyze`, or a `Node` subclass).

        Args:
            config: the kind's `Config` object or a dict of its fields; or give the fields as keywords.
            fan_out: `panel`, `tasks`, or a list of agent ids: one copy of the node per analyst.
        """
        values = config.model_dump(exclude_defaults=True) if isinstance(config, NodeConfig) else dict(config or {})
        node: dict[str, Any] = {"type": _type_name(kind), "config": {**values, **fields}}
        if fan_out is not None:
            node["fan_out"] = fan_out
        self._spec["nodes"][node_id] = node
        return self

    def add_edge(self, source: str, target: str) -> GraphBuilder:
        self._spec["edges"].append([source, target])
        return self

    def set_panel(self, *agents: str) -> GraphBuilder:
        self._spec["panel"] = list(agents)
        return self

    def set_role(self, role: str, agent: str) -> GraphBuilder:
        self._spec.setdefault("roles", {})[role] = agent
        return self

    def build(self, *, pool: PoolConfig | None = None) -> Graph:
        """The checked graph (against `pool` too, if given)."""
        return Graph(GraphSpec.from_dict(self._spec, source="<python>"), pool=pool)
