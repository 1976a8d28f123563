"""The calls every `orch` command is made of: answer one question, run a graph over items, and
(see `orch.eval`) evaluate systems. Each opens one MLflow run and logs it the same way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orch.app.session import RouterOptions, Session
from orch.config import PoolConfig
from orch.graphs import Graph
from orch.items import Item
from orch.mlflow_config import load_mlflow_settings

if TYPE_CHECKING:
    from orch.records import ItemResult
    from orch.summary import Results, RunSummary

__all__ = ["AskOutcome", "RunOutcome", "ask", "make_item", "run"]

GraphRef = str | Path | Graph
PoolRef = PoolConfig | Path | str | None


@dataclass(frozen=True)
class AskOutcome:
    result: ItemResult
    run_id: str
    tracking_uri: str


@dataclass(frozen=True)
class RunOutcome:
    results: Results
    summary: RunSummary
    run_id: str
    tracking_uri: str


def make_item(question: str, options: Sequence[str] | None = None, answer: str | None = None) -> Item:
    """An `Item` with a stable id derived from its text (`ask/<sha256 prefix>`)."""
    digest = hashlib.sha256(json.dumps([question, list(options or [])]).encode()).hexdigest()[:12]
    return Item(id=f"ask/{digest}", question=question, options=tuple(options) if options else None, answer=answer)


def ask(
    item: Item | str,
    options: Sequence[str] | None = None,
    *,
    graph: GraphRef = "orch",
    pool: PoolRef = None,
    router: str = "default",
    on_start: Callable[[Session], None] | None = None,
) -> AskOutcome:
    """Answer one question with a graph, logged as one MLflow run (experiment `orch-ask`).

    Args:
        item: an `Item`, or the question text (then `options` are its options; none: a number).
        router: for a routed graph, the persisted router to continue and update.
        on_start: called once the graph is checked, before the agents start (a progress line).
    """
    the_item = item if isinstance(item, Item) else make_item(item, options)
    settings = load_mlflow_settings()
    session = Session(graph, pool)
    from orch.app.recording import log_results, log_setup, router_metrics  # after the checks: MLflow is slow to import
    from orch.tracking import Tracker

    tracker = Tracker(settings)
    with tracker.start_run(
        tracker.experiment_name("ask"), f"ask {session.graph.name}", tags={"orch.command": "ask"}
    ) as run_id:
        if on_start is not None:
            on_start(session)
        options_ = RouterOptions(router_id=router, scope=run_id, on_update=router_metrics(tracker))
        with session.start(router=options_, item_context=tracker.item_trace) as runner:
            log_setup(tracker, session, item_id=the_item.id)
            result = runner.invoke(the_item)
        log_results(tracker, [result])
    return AskOutcome(result, run_id, tracker.tracking_uri)


def run(
    items: Sequence[Item],
    *,
    graph: GraphRef = "orch",
    pool: PoolRef = None,
    router: str = "default",
    concurrency: int = 1,
    benchmark: str = "custom",
    params: Mapping[str, object] | None = None,
    on_start: Callable[[Session], None] | None = None,
    on_result: Callable[[ItemResult], None] | None = None,
) -> RunOutcome:
    """Run a graph over items, logged as one MLflow run (experiment `orch-<benchmark>`).

    A running accuracy is logged per item (`running_accuracy`, one step each); `on_result` sees each
    result as it is produced; `params` are logged beside the run's own.
    """
    settings = load_mlflow_settings()
    session = Session(graph, pool)
    from orch.app.recording import log_results, log_setup, router_metrics  # after the checks: MLflow is slow to import
    from orch.summary import Results
    from orch.tracking import Tracker

    tracker = Tracker(settings)
    done: list[ItemResult] = []

    def record(result: ItemResult) -> None:
        done.append(result)
        tracker.log_metrics({"running_accuracy": sum(bool(r.correct) for r in done) / len(done)}, step=len(done))
        if on_result is not None:
            on_result(result)

    with tracker.start_run(
        tracker.experiment_name("run", benchmark),
        f"{session.graph.name} {benchmark} n={len(items)}",
        tags={"orch.command": "run", "orch.benchmark": benchmark},
    ) as run_id:
        if on_start is not None:
            on_start(session)
        options = RouterOptions(router_id=router, scope=run_id, on_update=router_metrics(tracker))
        with session.start(router=options, item_context=tracker.item_trace) as runner:
            ids = ",".join(i.id for i in items[:20])
            extra = {"benchmark": benchmark, "n_items": len(items), "item_ids_head": ids, **(params or {})}
            log_setup(tracker, session, **extra)
            results = Results(runner.batch(items, concurrency=concurrency, on_result=record))
        summary = log_results(tracker, results)
    return RunOutcome(results, summary, run_id, tracker.tracking_uri)
