"""`orch run`: a graph over the first N MMLU items, with a progress bar and an accuracy line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from orch.cli.options import (
    ConcurrencyOpt,
    ConfigOpt,
    GraphOpt,
    ItemMaxCostOpt,
    ItemMaxTimeOpt,
    MaxCostOpt,
    MaxFailedOpt,
    MaxTimeOpt,
    RouterOpt,
)
from orch.cli.render import console, end_of_run, items_table, progress_bar, summary_lines

if TYPE_CHECKING:
    from orch.items import Item
    from orch.records import ItemResult

__all__ = ["run"]


def select_mmlu(limit: int, subject: str | None) -> tuple[Item, ...]:
    from orch.errors import DatasetError, did_you_mean
    from orch.eval.datasets import load_benchmark

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
    max_failed: MaxFailedOpt = 0.0,
    max_cost: MaxCostOpt = None,
    max_time: MaxTimeOpt = None,
    item_max_cost: ItemMaxCostOpt = None,
    item_max_time: ItemMaxTimeOpt = None,
) -> None:
    """Run a graph over the first N MMLU test items (official order: subjects A–Z) and log it to MLflow.

    A run a budget stopped ends with a line saying so and exit code 3; `orch run` keeps no results
    between runs, so run it again to start over (`orch eval` continues instead)."""
    import orch

    items = select_mmlu(limit, subject)
    right: list[int] = [0, 0]
    with progress_bar("accuracy") as progress:
        task = progress.add_task("checking", total=len(items), acc="–")

        def on_result(result: ItemResult) -> None:
            right[0] += bool(result.correct)
            right[1] += 1
            progress.update(task, advance=1, acc=f"{right[0]}/{right[1]} = {right[0] / right[1]:.0%}")

        outcome = orch.run(
            items,
            graph=graph,
            pool=config,
            router=router,
            concurrency=concurrency,
            benchmark="mmlu",
            params={"subject": subject or ""},
            on_start=lambda s: progress.update(task, description=s.graph.name),
            on_result=on_result,
            max_cost=max_cost,
            max_time=max_time,
            item_max_cost=item_max_cost,
            item_max_time=item_max_time,
        )
    console.print(items_table(outcome.results))
    for line in summary_lines(outcome.summary):
        console.print(line)
    console.print(f"[dim]MLflow run {outcome.run_id} in {outcome.tracking_uri}. See it with: orch ui[/]")
    summary, stopped = outcome.summary, outcome.stopped
    unstarted = stopped.not_started if stopped is not None else 0
    end_of_run(
        summary.items + unstarted,
        summary.degraded,
        summary.failed,
        max_failed=max_failed,
        stopped=stopped,
        resumes=False,
    )
