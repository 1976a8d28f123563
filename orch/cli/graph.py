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


def _compiled(name: str):
    """The graph checked against the pool (ORCH_CONFIG or the embedded one), compiled with its agents."""
    from orch.config import load_pool_config
    from orch.graphs import load_graph

    pool, _ = load_pool_config()
    graph = load_graph(name, pool=pool)
    return graph.compile(graph.cast(pool))


@graph_app.command("show")
def show_graph(name: NameArg) -> None:
    """Validate a graph and print it as Mermaid text (with the agents of the configured pool)."""
    from orch.graphs import mermaid

    print(mermaid(_compiled(name)), end="")


@graph_app.command("draw")
def draw_graph(
    name: NameArg, out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("graph.png")
) -> None:
    """Validate a graph and draw it as PNG with Graphviz (no network), showing its agents."""
    from orch.graphs import render_png

    console.print(f"wrote {render_png(_compiled(name), out)}")


@graph_app.command("schema")
def write_schema(out: Annotated[Path | None, typer.Option("--out", "-o")] = None) -> None:
    """Write the JSON schema of graph specs (editors validate YAML specs, and each node's config, with it)."""
    from orch.graphs.library import BUILTIN_DIR
    from orch.graphs.schema import graph_json_schema

    out = out or BUILTIN_DIR / "graph.schema.json"
    out.write_text(json.dumps(graph_json_schema(), indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out}")
