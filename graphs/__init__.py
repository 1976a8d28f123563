"""Declarative graphs: YAML specs validated and compiled into LangGraph `StateGraph`s."""

from orch.graphs.compile import CompiledSpec, build_state_graph, compile_spec, required_agents
from orch.graphs.draw import mermaid, render_png, to_dot
from orch.graphs.library import builtin_graphs, load_graph_spec
from orch.graphs.spec import END, START, GraphSpec, NodeSpec

__all__ = [
    "END",
    "START",
    "CompiledSpec",
    "GraphSpec",
    "NodeSpec",
    "build_state_graph",
    "builtin_graphs",
    "compile_spec",
    "load_graph_spec",
    "mermaid",
    "render_png",
    "required_agents",
    "to_dot",
]
