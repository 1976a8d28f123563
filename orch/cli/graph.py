"""`orch graph list|show|draw|schema`: inspect and picture graph specs without running a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orch.cli.render import console

__all__ = ["graph_app"]

graph_app = typer.Typer(
    help="List, show (Mermaid), draw (PNG, offline) and validate graph specs.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="A built-in graph name or a spec .yaml path.")]


@graph_app.command("list")
def list_graphs() -> None:
    """The built-in graphs."""
    from orch.graphs import GraphSpec, builtin_graphs

    table = Table(title="Built-in graphs", title_justify="left")
    for column in ("name", "nodes", "description"):
        table.add_column(column, overflow="fold")
    for name, path in builtin_graphs().items():
        spec = GraphSpec.from_file(path)
        nodes = " → ".join(f"{n}({s.type}{'×' if s.fan_out else ''})" for n, s in spec.nodes.items())
        table.add_row(name, nodes, spec.description)
    console.print(table)


@graph_app.command("show")
def show_graph(name: NameArg) -> None:
    """Validate a graph and print it as Mermaid text."""
    from orch.graphs import build_state_graph, compile_spec, load_graph_spec, mermaid

    spec, path = load_graph_spec(name)
    print(mermaid(build_state_graph(compile_spec(spec, source=path)).compile(name=spec.name)), end="")


@graph_app.command("draw")
def draw_graph(
    name: NameArg, out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("graph.png")
) -> None:
    """Validate a graph and draw it as PNG with Graphviz (no network)."""
    from orch.graphs import compile_spec, load_graph_spec, render_png

    spec, path = load_graph_spec(name)
    compile_spec(spec, source=path)
    console.print(f"wrote {render_png(spec, out)}")


@graph_app.command("schema")
def write_schema(out: Annotated[Path | None, typer.Option("--out", "-o")] = None) -> None:
    """Write the JSON schema of graph specs (editors validate YAML specs with it)."""
    from orch.graphs import GraphSpec
    from orch.graphs.library import BUILTIN_DIR

    out = out or BUILTIN_DIR / "graph.schema.json"
    out.write_text(json.dumps(GraphSpec.model_json_schema(), indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out}")
