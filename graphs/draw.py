"""Pictures of compiled graphs, made offline: Mermaid text from LangGraph, PNG through Graphviz.

LangGraph's `draw_mermaid_png` calls a web service, which this project must not depend on. Both
pictures are drawn from the compiled LangGraph graph (`graph.get_graph()`), with the node
metadata orch sets: each node's type, its fan-out and the agents behind it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from orch.errors import OrchError

if TYPE_CHECKING:
    from langchain_core.runnables.graph import Graph as DrawableGraph
    from langgraph.graph.state import CompiledStateGraph

__all__ = ["layers", "mermaid", "render_png", "to_dot"]

_START, _END = "__start__", "__end__"


def mermaid(graph: CompiledStateGraph) -> str:
    """The compiled graph as Mermaid text (what `orch graph show` prints)."""
    return graph.get_graph().draw_mermaid()


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _node_lines(drawable: DrawableGraph, node_id: str) -> list[str]:
    if node_id in (_START, _END):
        return [node_id.strip("_").upper()]
    meta = drawable.nodes[node_id].metadata or {}
    lines = [node_id, *(f"{key}: {value}" for key, value in meta.items() if key != "fan_out")]
    if "fan_out" in meta:
        lines.append(f"× {meta['fan_out']}")
    return lines


def to_dot(graph: CompiledStateGraph) -> str:
    """Graphviz DOT: boxes for nodes, stacked boxes for fan-outs, dashed `Send` edges, ovals for START/END."""
    drawable = graph.get_graph()
    lines = [
        f'digraph "{_label(graph.name)}" {{',
        '  graph [rankdir=TB, fontname="Helvetica", labelloc=t, fontsize=16, '
        f'label="{_label(graph.name)}", pad=0.3, nodesep=0.5];',
        '  node [fontname="Helvetica", fontsize=11, style="rounded,filled", fillcolor="#f2f0ff", color="#6b5fd3"];',
        '  edge [color="#555555", arrowsize=0.8, fontname="Helvetica", fontsize=10];',
    ]
    for node_id in drawable.nodes:
        label = "\\n".join(_label(line) for line in _node_lines(drawable, node_id))
        if node_id in (_START, _END):
            fill = "#ffffff" if node_id == _START else "#bfb6fc"
            lines.append(f'  "{node_id}" [label="{label}", shape=oval, fillcolor="{fill}"];')
        else:
            fanned = "fan_out" in (drawable.nodes[node_id].metadata or {})
            lines.append(f'  "{_label(node_id)}" [label="{label}", shape={"box3d" if fanned else "box"}];')
    for edge in drawable.edges:
        style = ' [style=dashed, label=" Send"]' if edge.conditional else ""
        lines.append(f'  "{_label(edge.source)}" -> "{_label(edge.target)}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_png(graph: CompiledStateGraph, out: Path) -> Path:
    """Write the graph's picture as PNG with Graphviz's `dot` (Debian package `graphviz`), or, where
    `dot` is missing, as a plain layered drawing with matplotlib, so a picture is always there.

    Raises:
        OrchError: `dot` is installed but failed.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    dot = shutil.which("dot")
    if dot is None:
        return _render_matplotlib(graph, out)
    result = subprocess.run(
        [dot, "-Tpng", "-Gdpi=144", "-o", str(out)],
        input=to_dot(graph).encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise OrchError(f"dot failed to draw {graph.name!r}: {result.stderr.decode(errors='replace').strip()}")
    return out


def layers(drawable: DrawableGraph) -> list[list[str]]:
    """Nodes by depth (longest path from START), START first and END last: a simple layered layout."""
    depth = {_START: 0}
    for _ in range(len(drawable.nodes) + 1):  # compiled graphs here are acyclic, so this settles
        for edge in drawable.edges:
            if edge.source in depth:
                depth[edge.target] = max(depth.get(edge.target, 0), depth[edge.source] + 1)
    rows: dict[int, list[str]] = {}
    for name in drawable.nodes:
        rows.setdefault(depth.get(name, 0), []).append(name)
    return [rows[d] for d in sorted(rows)]


def _render_matplotlib(graph: CompiledStateGraph, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawable = graph.get_graph()
    rows = layers(drawable)
    fig, ax = plt.subplots(figsize=(max(3.5, 2.6 * max(len(r) for r in rows)), 1.3 * len(rows) + 0.6))
    position = {
        name: ((i + 1) / (len(row) + 1), 1 - (level + 0.5) / len(rows))
        for level, row in enumerate(rows)
        for i, name in enumerate(row)
    }
    for edge in drawable.edges:
        (x0, y0), (x1, y1) = position[edge.source], position[edge.target]
        style = {"arrowstyle": "->", "color": "#555555", "linestyle": "--" if edge.conditional else "-"}
        ax.annotate("", xy=(x1, y1 + 0.28 / len(rows)), xytext=(x0, y0 - 0.28 / len(rows)), arrowprops=style)
    for name, (x, y) in position.items():
        color = {_START: "#ffffff", _END: "#bfb6fc"}.get(name, "#f2f0ff")
        box = {"boxstyle": "round,pad=0.5", "facecolor": color, "edgecolor": "#6b5fd3"}
        ax.text(x, y, "\n".join(_node_lines(drawable, name)), ha="center", va="center", fontsize=9, bbox=box)
    ax.set_title(graph.name)
    ax.set_axis_off()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
