"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["ConcurrencyOpt", "ConfigOpt", "GraphOpt", "JsonOpt", "MaxFailedOpt", "RouterOpt"]

GraphOpt = Annotated[
    str, typer.Option("--graph", "-g", help="Built-in graph name (orch graph list) or a spec .yaml path.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="ORCH_CONFIG",
        help="Pool config YAML (agents, panel, roles). Default: the embedded local pool.",
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--concurrency",
        min=1,
        help="Items in flight at once. Each backend still caps its own requests (local servers: 1 by default).",
    ),
]
MaxFailedOpt = Annotated[
    float,
    typer.Option(
        "--max-failed", min=0, max=1, help="Share of items that may fail (calls failed, no answer) with exit code 0."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
RouterOpt = Annotated[
    str,
    typer.Option("--router", help="For routed graphs (orch-ema): the persisted router to continue and update."),
]
