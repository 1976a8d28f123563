"""`orch eval`: compare systems on a benchmark sample (resumable, cached) and inspect past evaluations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from orch.cli.eval_report import print_report
from orch.cli.options import (
    ConcurrencyOpt,
    ConfigOpt,
    ItemMaxCostOpt,
    ItemMaxTimeOpt,
    MaxCostOpt,
    MaxFailedOpt,
    MaxTimeOpt,
)
from orch.cli.render import console, end_of_run, progress_bar

if TYPE_CHECKING:
    from orch.eval.datasets import ColumnMapping
    from orch.eval.evaluate import EvalHooks, EvalOutcome
    from orch.eval.systems import System
    from orch.records import ItemResult

__all__ = ["eval_app"]

eval_app = typer.Typer(
    help="Compare systems (single agents, CoT, vote, ORCH, self-consistency, any graph) on a benchmark sample.",
    invoke_without_command=True,
)


def _mapping(entries: list[str]) -> ColumnMapping:
    from pydantic import ValidationError

    from orch.errors import ConfigError
    from orch.eval.datasets import ColumnMapping

    fields: dict[str, object] = {}
    for entry in entries:
        field, sep, column = entry.partition("=")
        if not sep or not column:
            raise ConfigError("--map", entry, "use FIELD=COLUMN, e.g. question=prompt or options=A,B,C,D")
        fields[field] = tuple(column.split(",")) if field == "options" and "," in column else column
    try:
        return ColumnMapping.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError("--map", ".".join(map(str, first["loc"])), first["msg"]) from exc


BenchmarkOpt = Annotated[
    str | None,
    typer.Option("--benchmark", "-b", help="mmlu, mmlu-pro, mmlu-pro-validation, gsm8k, or a JSONL/CSV/Parquet path."),
]
SampleOpt = Annotated[str, typer.Option("--sample", "-s", help="paper, paper:N, stratified:N, first:N or all.")]
SystemsOpt = Annotated[
    str | None,
    typer.Option(
        "--systems",
        help="Comma-separated: single:ID|*, cot:ID|*, vote, sc[:ID[:K]], or any graph name/path. "
        "Default: single:*,cot:*,vote,orch,sc.",
    ),
]
BaselineOpt = Annotated[
    list[str] | None,
    typer.Option("--baseline", help="Compare this graph as a baseline too, e.g. --baseline orch for orch-ema."),
]
ReplayOpt = Annotated[bool, typer.Option("--replay", help="Refuse any uncached model call (offline re-run).")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="New MLflow runs even if this evaluation exists.")]
ExcludeOpt = Annotated[
    str | None,
    typer.Option(
        "--exclude-sample",
        help="Leave out this preset's items: a development split. PRESET@SEED names the seed the reported "
        "sample was drawn with (paper@0) when this run uses another.",
    ),
]
TraceRateOpt = Annotated[
    float | None, typer.Option("--trace-rate", min=0, max=1, help="Fraction of items traced (default: mlflow.yaml).")
]
MarginOpt = Annotated[
    float | None,
    typer.Option(
        "--noninferiority-margin",
        min=0,
        max=0.99,
        help="Accuracy (a fraction) a target may lose to the best single agent and still be called "
        "non-inferior in the verdict. Default 0.03 (3 points).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Answer the items on a local Dask cluster of N worker processes (each keeps --concurrency in flight).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Answer the items on a running Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786. "
        "Needs ORCH_EVAL_STORE and ORCH_CALL_CACHE on postgresql:// and an MLflow server.",
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="For your own file: FIELD=COLUMN, fields id, question, options (one list column, or several "
        "comma-separated), answer, category.",
    ),
]


@eval_app.callback()
def evaluate_command(
    ctx: typer.Context,
    benchmark: BenchmarkOpt = None,
    sample: SampleOpt = "paper",
    systems: SystemsOpt = None,
    baseline: BaselineOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Sample seed.")] = 0,
    concurrency: ConcurrencyOpt = 1,
    replay: ReplayOpt = False,
    fresh: FreshOpt = False,
    exclude_sample: ExcludeOpt = None,
    trace_rate: TraceRateOpt = None,
    column: MapOpt = None,
    margin: MarginOpt = None,
    config: ConfigOpt = None,
    max_failed: MaxFailedOpt = 0.0,
    max_cost: MaxCostOpt = None,
    max_time: MaxTimeOpt = None,
    item_max_cost: ItemMaxCostOpt = None,
    item_max_time: ItemMaxTimeOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Run or resume an evaluation; one MLflow parent run, one nested run per system.

    Exit codes: 0 done, 1 items failed (beyond --max-failed), 2 bad input, 3 a budget stopped it
    (the same command again continues), 130 interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    if benchmark is None:
        raise typer.BadParameter("give --benchmark (or a subcommand: report, list)", param_hint="--benchmark")
    import orch

    request = orch.EvalRequest(
        benchmark=benchmark,
        sample=sample,
        systems=systems,
        baselines=tuple(baseline or ()),
        seed=seed,
        concurrency=concurrency,
        replay=replay,
        fresh=fresh,
        exclude_sample=exclude_sample,
        trace_rate=trace_rate,
        mapping=_mapping(column) if column else None,
        **({} if margin is None else {"noninferiority_margin": margin}),
        max_cost=max_cost,
        max_time=max_time,
        item_max_cost=item_max_cost,
        item_max_time=item_max_time,
        workers=workers,
        scheduler=scheduler,
    )
    started = time.perf_counter()
    with progress_bar("acc") as progress:
        outcome = orch.evaluate(request, pool=config, hooks=_progress_hooks(progress))
    _print_outcome(outcome, time.perf_counter() - started)
    runs = len(outcome.sample) * len(outcome.failed)
    end_of_run(
        runs, sum(outcome.degraded.values()), outcome.failed_items, max_failed=max_failed, stopped=outcome.stopped
    )


def _progress_hooks(progress: Progress) -> EvalHooks:
    from orch.eval.evaluate import EvalHooks

    tasks: dict[str, TaskID] = {}
    right: dict[str, list[int]] = {}

    def system_started(system: System, total: int, done: int) -> None:
        tasks[system.name] = progress.add_task(system.name, total=total, completed=done, acc="–")
        right[system.name] = [0, 0]

    def item_done(system: System, result: ItemResult) -> None:
        tally = right[system.name]
        tally[0] += bool(result.correct)
        tally[1] += 1
        progress.update(tasks[system.name], advance=1, acc=f"{tally[0]}/{tally[1]} new")

    def system_finished(system: System, results: list[ItemResult], calls: int) -> None:
        k = sum(bool(r.correct) for r in results)
        progress.update(tasks[system.name], acc=f"{k}/{len(results)} = {k / max(len(results), 1):.0%} · {calls} calls")

    def waiting() -> None:
        progress.console.print(
            "[yellow]another orch process is running this evaluation: waiting for it, then joining[/]"
        )

    def system_waiting(system: System) -> None:
        progress.console.print(
            f"[yellow]another orch process is answering {system.name} on these items: "
            "waiting for it, then reusing them[/]"
        )

    return EvalHooks(system_started, item_done, system_finished, waiting, system_waiting)


def _print_outcome(outcome: EvalOutcome, seconds: float) -> None:
    print_report(outcome.report)
    for note in outcome.report.notes:
        console.print(f"[dim]note: {note}[/]")
    flagged = [c for c in outcome.report.comparisons if c.flagged]
    if flagged:
        console.print(
            "[yellow]⚠ budget: a target wins against a baseline with a different token budget:[/] "
            + ", ".join(f"{c.comparison.target} vs {c.comparison.baseline} ({c.token_ratio:.1f}×)" for c in flagged)
        )
    console.print(
        f"{outcome.calls_made} model calls, {outcome.cache_hits} cache hits, {seconds:.1f} s. "
        f"MLflow run {outcome.record.parent_run_id} (experiment {outcome.record.experiment}): report.md, plots/. "
        "Open with: orch ui"
    )


@eval_app.command("report")
def report_command(
    run_id: Annotated[str, typer.Argument(help="The evaluation's parent MLflow run id.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the Markdown report here.")] = None,
) -> None:
    """Re-render an evaluation's report from its logged results (no model calls)."""
    from orch.eval.logged import report_from_run

    report, markdown = report_from_run(run_id)
    print_report(report)
    if out is not None:
        out.write_text(markdown, encoding="utf-8")
        console.print(f"wrote {out}")


@eval_app.command("list")
def list_command(limit: Annotated[int, typer.Option("--limit", "-n")] = 20) -> None:
    """Evaluations logged in the tracking store, newest first."""
    from orch.eval.logged import list_evaluations

    table = Table(title="Evaluations", title_justify="left")
    keys = ("run_id", "started", "status", "evaluation", "systems", "best", "verdict", "calls")
    for key in keys:  # the long free-text columns wrap between words, so the table fits the terminal
        wide = key in ("evaluation", "systems", "verdict")
        table.add_column(key.replace("_", " "), overflow="fold", min_width=20 if wide else None, no_wrap=not wide)
    for row in list_evaluations(limit):
        row["evaluation"] = f"{row['benchmark']} {row['sample']} seed {row['seed']} ({row['items']} items)"
        row["systems"] = str(row["systems"]).replace(",", ", ")  # wraps between systems, not inside a name
        table.add_row(*(str(row[k]) for k in keys))
    console.print(table)
