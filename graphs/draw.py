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

__all__ = ["layers", "mermaid", "render_png", "to_dot"]


def mermaid(graph: CompiledStateGraph) -> str:
    """The compiled graph as Mermaid text (what `orch graph show` prints)."""
    return graph.get_graph().draw_mermaid()


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _fan_out_label(fan_out: str | tuple[str, ...] | None) -> str:
    if fan_out is None:
        return ""
    return "\n× " + (fan_out if isinstance(fan_out, str) else ", ".join(fan_out))


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
        shape = "box" if node.fan_out is None else "box3d"
        label = "\\n".join([node_id, *(_label(d) for d in details)]) + _fan_out_label(node.fan_out).replace("\n", "\\n")
        lines.append(f'  "{_label(node_id)}" [label="{label}", shape={shape}];')
    for src, dst in spec.edges:
        fan = spec.nodes.get(dst)
        style = ' [style=dashed, label=" Send"]' if fan is not None and fan.fan_out is not None else ""
        lines.append(f'  "{_label(src)}" -> "{_label(dst)}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_png(spec: GraphSpec, out: Path) -> Path:
    """Write the spec's picture as PNG with Graphviz's `dot` (Debian package `graphviz`), or, where
    `dot` is missing, as a plain layered drawing with matplotlib, so a picture is always there.

    Raises:
        OrchError: `dot` is installed but failed.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    dot = shutil.which("dot")
    if dot is None:
        return _render_matplotlib(spec, out)
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


def layers(spec: GraphSpec) -> list[list[str]]:
    """Nodes by depth (longest path from START), START first and END last: a simple layered layout."""
    depth = {START: 0}
    for _ in range(len(spec.nodes) + 1):  # compiled specs are acyclic, so this settles
        for src, dst in spec.edges:
            if src in depth:
                depth[dst] = max(depth.get(dst, 0), depth[src] + 1)
    rows: dict[int, list[str]] = {}
    for name in [START, *spec.nodes, END]:
        rows.setdefault(depth.get(name, 0), []).append(name)
    return [rows[d] for d in sorted(rows)]


def _render_matplotlib(spec: GraphSpec, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = layers(spec)
    fig_height = 1.3 * len(rows) + 0.6
    fig, ax = plt.subplots(figsize=(max(3.5, 2.6 * max(len(r) for r in rows)), fig_height))
    position: dict[str, tuple[float, float]] = {}
    for level, row in enumerate(rows):
        for i, name in enumerate(row):
            position[name] = ((i + 1) / (len(row) + 1), 1 - (level + 0.5) / len(rows))
    for src, dst in spec.edges:
        fan = spec.nodes.get(dst)
        dashed = fan is not None and fan.fan_out is not None
        (x0, y0), (x1, y1) = position[src], position[dst]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.28 / len(rows)),
            xytext=(x0, y0 - 0.28 / len(rows)),
            arrowprops={"arrowstyle": "->", "color": "#555555", "linestyle": "--" if dashed else "-"},
        )
    for name, (x, y) in position.items():
        node = spec.nodes.get(name)
        if node is None:
            text, color = name, "#bfb6fc" if name == END else "#ffffff"
        else:
            text, color = f"{name}\ntype: {node.type}{_fan_out_label(node.fan_out)}", "#f2f0ff"
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": color, "edgecolor": "#6b5fd3"},
        )
    ax.set_title(spec.name)
    ax.set_axis_off()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
