"""`orch profile …`: reliability profiles for the `weigh` node (fit from an evaluation, list, show)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from orch.cli.render import console

__all__ = ["profile_app"]

profile_app = typer.Typer(
    help="Reliability profiles: each agent's accuracy and position prior, measured on a development split.",
    no_args_is_help=True,
)
NameArg = Annotated[str, typer.Argument(help="Profile name (the `profile:` of a weigh node).")]


@profile_app.command("fit")
def fit(
    name: NameArg,
    run_id: Annotated[
        list[str], typer.Option("--eval", help="Run id of a finished evaluation (orch eval list); repeatable.")
    ],
    system: Annotated[
        list[str] | None,
        typer.Option(help="A system whose answers are measured (repeat: `--system orch --system vote`)."),
    ] = None,
) -> None:
    """Write the next version of a profile from an evaluation — on a development split (e.g.
    `--exclude-sample paper`), never on the items you report. Analyses are measured as their agent,
    direct answers as `<agent>/direct`."""
    from orch.eval.profile_fit import fit_profile

    profile = fit_profile(name, run_id, tuple(system or ["orch"]))
    console.print(f"Wrote reliability profile {profile.label}")
    show(f"{name}@v{profile.version}")


@profile_app.command("show")
def show(name: NameArg) -> None:
    """A profile's witnesses: accuracy, items answered and position prior."""
    from orch.nodes.profiles import load_profile

    profile = load_profile(name, field="profile")
    source = profile.source
    measured = f"{source.get('items', '?')} items of {source.get('dataset', '?')}: {source.get('system', '?')}"
    table = Table(title=f"{profile.label}, measured on {measured}", title_justify="left")
    for column in ("witness", "accuracy", "answered", "position prior"):
        table.add_column(column)
    for agent, r in sorted(profile.agents.items()):
        priors = "; ".join(f"{k} options: " + " ".join(f"{p:.2f}" for p in ps) for k, ps in r.priors.items())
        table.add_row(agent, f"{r.accuracy:.1%}", str(r.answered), priors or "–")
    console.print(table)
