"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "ConcurrencyOpt",
    "ConfigOpt",
    "GraphOpt",
    "ItemMaxCostOpt",
    "ItemMaxTimeOpt",
    "JsonOpt",
    "MaxCostOpt",
    "MaxFailedOpt",
    "MaxTimeOpt",
    "RouterOpt",
]

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


def _budget(flag: str) -> Callable[[str], float]:
    """Parse a budget flag, refusing zero, negatives, NaN and words in one line (exit 2) before anything opens."""

    def parse(text: str) -> float:
        from orch.nodes.budgets import parse_budget

        return parse_budget(flag, text)

    return parse


MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        metavar="USD",
        parser=_budget("--max-cost"),
        help="Run budget: once the calls made cost this much, no new item starts; in-flight items finish. "
        "Exit code 3; the same evaluation run again continues.",
    ),
]
MaxTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--max-time",
        metavar="SECONDS",
        parser=_budget("--max-time"),
        help="Run budget: after this much wall time (from the first item) no new item starts; in-flight items "
        "finish. Exit code 3; the same evaluation run again continues.",
    ),
]
ItemMaxCostOpt = Annotated[
    float | None,
    typer.Option(
        "--item-max-cost",
        metavar="USD",
        parser=_budget("--item-max-cost"),
        help="Item budget: once an item's calls cost this much, its further calls are refused (failed calls).",
    ),
]
ItemMaxTimeOpt = Annotated[
    float | None,
    typer.Option(
        "--item-max-time",
        metavar="SECONDS",
        parser=_budget("--item-max-time"),
        help="Item budget: an item still running after this long is cut off: failed, retried by the next run.",
    ),
]
