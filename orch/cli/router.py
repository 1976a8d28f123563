"""`orch router …` and `orch feedback`: inspect, manage and replay EMA routers; give delayed answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orch.cli.render import console

__all__ = ["feedback", "router_app"]

router_app = typer.Typer(
    help="Inspect, reset, export and replay EMA routers (state in a LangGraph Store).", no_args_is_help=True
)

RouterArg = Annotated[str, typer.Argument(help="Router id (orch router list).")]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", envvar="ORCH_ROUTER_STORE", help="sqlite:///path or postgresql://… (default .orch/router.sqlite)"
    ),
]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@router_app.command("list")
def list_routers(store: StoreOpt = None) -> None:
    """Routers in the store, with their current version."""
    from orch.routers.store import RouterRepo

    table = Table(title="Routers", title_justify="left")
    for column in ("router", "version", "state hash", "policy", "updated"):
        table.add_column(column)
    with RouterRepo.open(store) as repo:
        for router_id in repo.routers():
            current = repo.current(router_id)
            if current is not None:
                table.add_row(
                    router_id, str(current.version), current.state_hash, current.policy_hash, _when(current.created)
                )
    console.print(table)


@router_app.command("show")
def show_router(
    router_id: RouterArg = "default", version: Annotated[int | None, typer.Option()] = None, store: StoreOpt = None
) -> None:
    """The EMAs behind a router's ranking, at its current (or a given) version."""
    from orch.errors import OrchError
    from orch.routers.policy import PRESETS
    from orch.routers.ranking import pool_scales, utility
    from orch.routers.store import RouterRepo

    with RouterRepo.open(store) as repo:
        record = repo.get(router_id, version) if version is not None else repo.current(router_id)
    if record is None:
        raise OrchError(f"router {router_id!r} has no state yet in {store or 'the default store'}")
    policy = next((p for p in PRESETS.values() if p.policy_hash == record.policy_hash), None)
    table = Table(
        title=f"Router {router_id} v{record.version} ({record.state_hash}); policy {record.policy_hash}",
        title_justify="left",
    )
    for column in ("agent", "n", "accuracy", "latency ms", "cost", "stability", "utility"):
        table.add_column(column, justify="right" if column != "agent" else "left")
    scales = pool_scales(record.state.agents, policy) if policy else None
    for agent, s in sorted(record.state.agents.items()):
        u = f"{utility(s, policy, scales):.3f}" if policy else "?"
        table.add_row(
            agent,
            str(s.n),
            f"{s.accuracy.value:.3f}",
            f"{s.latency_ms.value:.0f}",
            f"{s.cost.value:.5f}",
            f"{s.stability.value:.3f}",
            u,
        )
    console.print(table)
    console.print(
        f"[dim]last update: {record.reason} at {_when(record.created)}; {len(record.state.applied)} "
        f"feedback ids applied[/]"
    )


@router_app.command("history")
def router_history(
    router_id: RouterArg = "default", store: StoreOpt = None, limit: Annotated[int, typer.Option("--limit", "-n")] = 30
) -> None:
    """Every version of a router, newest last."""
    from orch.routers.store import RouterRepo

    with RouterRepo.open(store) as repo:
        versions = repo.history(router_id)
    table = Table(title=f"Router {router_id}: {len(versions)} versions", title_justify="left")
    for column in ("version", "created", "state hash", "update"):
        table.add_column(column)
    for v in versions[-limit:]:
        table.add_row(str(v.version), _when(v.created), v.state_hash, v.reason)
    console.print(table)


@router_app.command("reset")
def reset_router(
    router_id: RouterArg,
    store: StoreOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete every version of a router; the next run starts cold."""
    from orch.routers.store import RouterRepo

    if not yes:
        typer.confirm(f"Delete every version of router {router_id!r}?", abort=True)
    with RouterRepo.open(store) as repo:
        console.print(f"deleted {repo.reset(router_id)} versions of {router_id}")


@router_app.command("export")
def export_router(
    router_id: RouterArg,
    out: Annotated[Path, typer.Option("--out", "-o")],
    version: Annotated[int | None, typer.Option()] = None,
    store: StoreOpt = None,
) -> None:
    """Write a router version (its state, hash and policy hash) as JSON."""
    from orch.errors import OrchError
    from orch.routers.store import RouterRepo

    with RouterRepo.open(store) as repo:
        record = repo.get(router_id, version) if version is not None else repo.current(router_id)
    if record is None:
        raise OrchError(f"router {router_id!r} has no state yet")
    out.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out} (version {record.version}, {record.state_hash})")


@router_app.command("replay")
def replay_router(
    run_id: Annotated[str, typer.Argument(help="An evaluation's parent run id (with single:* systems).")],
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            help='NAME=JSON patch of the paper-direct preset ({"preset": "orch"} patches another), '
            'e.g. \'a0.3={"ema": {"alpha": 0.3}}\'. Default: 16 settings.',
        ),
    ] = None,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Log each setting as an MLflow run.")] = True,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="Per-agent outcomes from: a system with every agent's "
            "analyses (e.g. orch), 'single' (direct answers), or 'auto'.",
        ),
    ] = "auto",
) -> None:
    """Simulate router settings on a logged evaluation, with no model calls."""
    from orch.errors import OrchError
    from orch.eval.replay import replay_evaluation
    from orch.routers.replay import DEFAULT_SETTINGS

    settings = dict(DEFAULT_SETTINGS)
    if setting:
        settings = {}
        for entry in setting:
            name, _, patch = entry.partition("=")
            try:
                settings[name] = json.loads(patch or "{}")
            except ValueError as exc:
                raise OrchError(f"--setting {entry!r}: the part after '=' must be JSON: {exc}") from exc
    outcome = replay_evaluation(run_id, settings, log=log, source=source)
    table = Table(
        title=f"Router replay on evaluation {run_id}: {outcome.items} items, outcomes from {outcome.source}, "
        "no model calls",
        title_justify="left",
    )
    for column in ("setting", "merger acc.", "panel vote acc.", "panel oracle", "panel latency s", "mergers"):
        table.add_column(column, justify="left" if column in ("setting", "mergers") else "right")
    for r in outcome.results:
        table.add_row(
            r.setting,
            f"{r.merger_accuracy:.1%}",
            f"{r.vote_accuracy:.1%}",
            f"{r.oracle_accuracy:.1%}",
            f"{r.panel_latency_ms / 1000:.1f}",
            ", ".join(f"{a}×{n}" for a, n in r.merger_counts.items()),
        )
    console.print(table)
    best = ", ".join(f"{a} {acc:.1%}" for a, acc in outcome.fixed_agents.items())
    console.print(f"[dim]each agent alone over the same items (hindsight): {best}[/]")
    if outcome.run_ids:
        console.print(f"[dim]logged {len(outcome.run_ids)} runs to experiment {outcome.experiment}[/]")


def feedback(
    run_id: Annotated[str, typer.Argument(help="The MLflow run of the prediction (orch ask/run).")],
    item_id: Annotated[str, typer.Argument(help="The item's id, as in the run's item table.")],
    answer: Annotated[str, typer.Argument(help="The right answer (a letter, or a number).")],
) -> None:
    """Give the right answer for an earlier prediction; its router learns from it once."""
    from orch import give_feedback

    result = give_feedback(run_id, item_id, answer)
    if not result.applied:
        console.print(f"already applied: router {result.router_id} is at version {result.version}, unchanged")
        return
    scored = ", ".join(
        f"{a} {'right' if c == 1 else 'wrong' if c == 0 else f'{c:.0%} right'}" for a, c in result.correct.items()
    )
    console.print(f"router {result.router_id} → version {result.version}: answer {result.answer}; {scored}")
