"""`orch run`: a graph over the first N MMLU items, with a progress bar and an accuracy line."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from orch.cli.options import ConcurrencyOpt, ConfigOpt, GraphOpt, RouterOpt
from orch.cli.render import console, items_table, summary_lines
from orch.errors import DatasetError, did_you_mean
from orch.eval.datasets import load_benchmark
from orch.items import Item

__all__ = ["run"]


def select_mmlu(limit: int, subject: str | None) -> tuple[Item, ...]:
    items = load_benchmark("mmlu").items
    if subject is not None:
        subjects = sorted({i.category or "" for i in items})
        items = tuple(i for i in items if i.category == subject)
        if not items:
            raise DatasetError("mmlu", "--subject", f"unknown subject {subject!r}.{did_you_mean(subject, subjects)}")
    return items[:limit]


def run(
    graph: GraphOpt = "orch",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many MMLU items, from the first.")] = 5,
    subject: Annotated[str | None, typer.Option("--subject", help="Only this MMLU subject, e.g. anatomy.")] = None,
    config: ConfigOpt = None,
    router: RouterOpt = "default",
    concurrency: ConcurrencyOpt = 1,
) -> None:
    """Run a graph over the first N MMLU test items (official order: subjects A–Z) and log it to MLflow."""
    from orch.recording import log_graph, log_results, run_params
    from orch.routers.report import router_metrics
    from orch.runner import ItemResult
    from orch.session import Session
    from orch.tracking import Tracker

    items = select_mmlu(limit, subject)
    session = Session(graph, config)
    tracker = Tracker()
    results: list[ItemResult] = []
    with (
        tracker.start_run(
            tracker.experiment_name("run", "mmlu"),
            f"{session.spec.name} mmlu n={len(items)}",
            tags={"orch.command": "run", "orch.benchmark": "mmlu"},
        ) as run_id,
        ExitStack() as stack,
    ):
        with console.status(f"Starting {len(session.agents)} agent(s): {', '.join(session.agents)}"):
            runner = stack.enter_context(
                session.runner(router_id=router, scope=run_id, on_router_update=router_metrics(tracker))
            )
        tracker.log_params(
            run_params(
                session,
                runner,
                benchmark="mmlu",
                n_items=len(items),
                subject=subject or "",
                item_ids_head=",".join(i.id for i in items[:20]),
            )
        )
        log_graph(tracker, session, runner)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("accuracy {task.fields[accuracy]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(session.spec.name, total=len(items), accuracy="–")

            def on_result(result: ItemResult) -> None:
                results.append(result)
                right = sum(bool(r.correct) for r in results)
                tracker.log_metrics({"running_accuracy": right / len(results)}, step=len(results))
                progress.update(task, advance=1, accuracy=f"{right}/{len(results)} = {right / len(results):.0%}")

            ordered = asyncio.run(
                runner.answer_all(items, concurrency=concurrency, on_result=on_result, item_context=tracker.item_trace)
            )
        summary = log_results(tracker, ordered)
    console.print(items_table(ordered))
    for line in summary_lines(summary):
        console.print(line)
    console.print(f"[dim]MLflow run {run_id} in {tracker.tracking_uri}. See it with: orch ui[/]")
