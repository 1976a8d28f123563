"""Declarative graphs: YAML specs (or a `GraphBuilder`) checked into a `Graph`, compiled to LangGraph."""

from orch.graphs.builder import GraphBuilder
from orch.graphs.draw import mermaid, render_png, to_dot
from orch.graphs.graph import Cast, Graph
from orch.graphs.kinds import NODE_KINDS, NodeRegistry
from orch.graphs.library import builtin_graphs, load_graph
from orch.graphs.spec import END, START, GraphSpec, NodeSpec

__all__ = [
    "END",
    "NODE_KINDS",
    "START",
    "Cast",
    "Graph",
    "GraphBuilder",
    "GraphSpec",
    "NodeRegistry",
    "NodeSpec",
    "builtin_graphs",
    "load_graph",
    "mermaid",
    "render_png",
    "to_dot",
]
