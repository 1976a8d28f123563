"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


def _budget_option(flag: str, metavar: str, help: str) -> Any:
    """A budget flag: zero, negatives, NaN and words are refused in one line (exit 2) before anything opens."""

    def parse(text: str) -> float:
        from orch.nodes.budgets import parse_budget

        return parse_budget(flag, text)

    return Annotated[float | None, typer.Option(flag, metavar=metavar, parser=parse, help=help)]


_CONTINUES = "Exit code 3; the same evaluation run again continues."
MaxCostOpt = _budget_option(
    "--max-cost",
    "USD",
    f"Run budget: once the calls made cost this much, no new item starts; in-flight items finish. {_CONTINUES}",
)
MaxTimeOpt = _budget_option(
    "--max-time",
    "SECONDS",
    "Run budget: after this much wall time (from the first item) no new item starts; in-flight items finish. "
    + _CONTINUES,
)
ItemMaxCostOpt = _budget_option(
    "--item-max-cost",
    "USD",
    "Item budget: once an item's calls cost this much, its further calls are refused (failed calls).",
)
ItemMaxTimeOpt = _budget_option(
    "--item-max-time",
    "SECONDS",
    "Item budget: an item still running after this long is cut off: failed, retried by the next run.",
)
