"""Pictures of graphs, made offline: Mermaid text from LangGraph, PNG through Graphviz's `dot`.

LangGraph's `draw_mermaid_png` calls a web service, which this project must not depend on.
The PNG here is drawn from the spec itself, so it also shows what Mermaid cannot: node types,
fan-outs, and the agents behind each node.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from langgraph.graph.state import CompiledStateGraph

from orch.errors import OrchError
from orch.graphs.spec import END, START, GraphSpec

__all__ = ["mermaid", "render_png", "to_dot"]


def mermaid(graph: CompiledStateGraph) -> str:
    """The compiled graph as Mermaid text (what `orch graph show` prints)."""
    return graph.get_graph().draw_mermaid()


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(spec: GraphSpec) -> str:
    """Graphviz DOT for a spec: boxes for nodes, stacked boxes for fan-outs, ovals for START/END."""
    lines = [
        f'digraph "{_label(spec.name)}" {{',
        '  graph [rankdir=TB, fontname="Helvetica", labelloc=t, fontsize=16, '
        f'label="{_label(spec.name)}", pad=0.3, nodesep=0.5];',
        '  node [fontname="Helvetica", fontsize=11, style="rounded,filled", fillcolor="#f2f0ff", color="#6b5fd3"];',
        '  edge [color="#555555", arrowsize=0.8, fontname="Helvetica", fontsize=10];',
        f'  "{START}" [label="START", shape=oval, fillcolor="#ffffff"];',
        f'  "{END}" [label="END", shape=oval, fillcolor="#bfb6fc"];',
    ]
    for node_id, node in spec.nodes.items():
        details = [f"type: {node.type}"]
        for key in ("agent", "max_chars", "rationale_chars", "reasoning_chars", "weight"):
            if key in node.config:
                details.append(f"{key}: {node.config[key]}")
        shape = "box"
        if node.fan_out is not None:
            shape = "box3d"
            target = node.fan_out if isinstance(node.fan_out, str) else ", ".join(node.fan_out)
            details.append(f"× {target}")
        label = "\\n".join([node_id, *(_label(d) for d in details)])
        lines.append(f'  "{_label(node_id)}" [label="{label}", shape={shape}];')
    for src, dst in spec.edges:
        fan = spec.nodes.get(dst)
        style = ' [style=dashed, label=" Send"]' if fan is not None and fan.fan_out is not None else ""
        lines.append(f'  "{_label(src)}" -> "{_label(dst)}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_png(spec: GraphSpec, out: Path) -> Path:
    """Write the spec's picture as PNG with Graphviz's `dot` (Debian package `graphviz`).

    Raises:
        OrchError: `dot` is not installed or failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise OrchError(
            "graphviz's `dot` is not installed; install it (apt-get install graphviz) to draw PNGs, "
            "or use `orch graph show` for Mermaid text"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [dot, "-Tpng", "-Gdpi=144", "-o", str(out)],
        input=to_dot(spec).encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise OrchError(f"dot failed to draw {spec.name!r}: {result.stderr.decode(errors='replace').strip()}")
    return out
