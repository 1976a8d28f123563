"""The calls every `orch` command is made of: answer one question, run a graph over items, and
(see `orch.eval`) evaluate systems. Each opens one MLflow run and logs it the same way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orch.app.session import RouterOptions, Session
from orch.config import PoolConfig
from orch.graphs import Graph
from orch.items import Item
from orch.mlflow_config import load_mlflow_settings
from orch.tracking.preflight import check_tracking_store

if TYPE_CHECKING:
    from orch.app.answerer import Answerer
    from orch.app.runner import GraphRunner
    from orch.nodes.budgets import BudgetStop, RunBudget
    from orch.records import ItemResult
    from orch.summary import Results, RunSummary
    from orch.tracking import Tracker

__all__ = ["AskOutcome", "RunOutcome", "answering", "ask", "make_item", "run"]

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
    """The items that ran, in item order (under a budget, those not started are left out)."""
    summary: RunSummary
    run_id: str
    tracking_uri: str
    stopped: BudgetStop | None = None
    """Set when a budget stopped the run before all its items started (the MLflow run ends KILLED)."""


def make_item(question: str, options: Sequence[str] | None = None, answer: str | None = None) -> Item:
    """An `Item` with a stable id derived from its text (`ask/<sha256 prefix>`)."""
    digest = hashlib.sha256(json.dumps([question, list(options or [])]).encode()).hexdigest()[:12]
    return Item(id=f"ask/{digest}", question=question, options=tuple(options) if options else None, answer=answer)


def _recorded_run(
    session: Session,
    tracker: Tracker,
    experiment: str,
    run_name: str,
    work: Callable[[GraphRunner], list[ItemResult]],
    *,
    tags: Mapping[str, str],
    router: str,
    on_start: Callable[[Session], None] | None,
    params: Mapping[str, object],
    budget: RunBudget | None = None,
) -> tuple[list[ItemResult], RunSummary, str]:
    """One MLflow run around a started session, the shared part of `ask` and `run`: setup logged,
    `work` done with the runner, the agents stopped, then the results logged into the same run.
    A run a budget stopped is tagged `orch.stopped=budget` and ends KILLED, as an interrupted one does."""
    from orch.app.recording import log_results, log_setup, router_metrics  # after the checks: MLflow is slow

    with tracker.open_run(experiment, run_name, tags=tags):  # opened while the first calls go out
        if on_start is not None:
            on_start(session)

        def scope() -> str:  # feedback ids `<run id>/<item id>`, asked for at the first feedback
            return tracker.run_id or router

        options = RouterOptions(router_id=router, scope=scope, on_update=router_metrics(tracker))
        with session.start(router=options, item_context=tracker.item_trace) as runner:
            tracker.in_background(lambda: log_setup(tracker, session, **params))
            results = work(runner)
        summary = log_results(tracker, results)
        stopped = None
        if budget is not None:
            stopped = budget.stop()
            tracker.log_metrics(budget.metrics())
            tracker.set_tags(budget.tags())
    run_id = tracker.run_id or ""
    if stopped is not None:
        tracker.end_as(run_id, "KILLED")
    return results, summary, run_id


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
    session.check_keys()
    check_tracking_store(settings)
    from orch.tracking import Tracker

    tracker = Tracker(settings)
    [result], _, run_id = _recorded_run(
        session,
        tracker,
        tracker.experiment_name("ask"),
        f"ask {session.graph.name}",
        lambda runner: [runner.invoke(the_item)],
        tags={"orch.command": "ask"},
        router=router,
        on_start=on_start,
        params={"item_id": the_item.id},
    )
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
    max_cost: float | None = None,
    max_time: float | None = None,
    item_max_cost: float | None = None,
    item_max_time: float | None = None,
) -> RunOutcome:
    """Run a graph over items, logged as one MLflow run (experiment `orch-<benchmark>`).

    A running accuracy is logged per item (`running_accuracy`, one step each); `on_result` sees each
    result as it is produced; `params` are logged beside the run's own.

    Args:
        max_cost, max_time, item_max_cost, item_max_time: budgets in US dollars and seconds, per run
            (then no new item starts, and `stopped` says so) and per item (see `orch.nodes.budgets`).

    Raises:
        ConfigError: a budget that is not a positive number, before anything is opened.
    """
    from orch.nodes.budgets import Budgets, RunBudget

    budgets = Budgets(max_cost=max_cost, max_time=max_time, item_max_cost=item_max_cost, item_max_time=item_max_time)
    settings = load_mlflow_settings()
    session = Session(graph, pool)
    session.check_keys()
    check_tracking_store(settings)
    from orch.summary import Results
    from orch.tracking import Tracker

    tracker = Tracker(settings)
    budget = RunBudget(budgets)
    done: list[ItemResult] = []

    def record(result: ItemResult) -> None:
        done.append(result)
        tracker.log_metrics(
            {"running_accuracy": sum(bool(r.correct) for r in done) / len(done)}, step=len(done), wait=False
        )
        if on_result is not None:
            on_result(result)

    ids = ",".join(i.id for i in items[:20])
    own = {"benchmark": benchmark, "n_items": len(items), "item_ids_head": ids, **budgets.params()}
    results, summary, run_id = _recorded_run(
        session,
        tracker,
        tracker.experiment_name("run", benchmark),
        f"{session.graph.name} {benchmark} n={len(items)}",
        lambda runner: runner.batch(items, concurrency=concurrency, on_result=record, budget=budget),
        tags={"orch.command": "run", "orch.benchmark": benchmark},
        router=router,
        on_start=on_start,
        params={**own, **(params or {})},
        budget=budget,
    )
    return RunOutcome(Results(results), summary, run_id, tracker.tracking_uri, budget.stop())


@contextmanager
def answering(
    graphs: GraphRef | Sequence[GraphRef] = "orch",
    *,
    pool: PoolRef = None,
    router: str = "default",
    track: bool = True,
    concurrency: int = 8,
) -> Iterator[dict[str, Answerer]]:
    """Start the graphs' agents once and answer items as they come (what `orch serve` runs on):
    graph name → `Answerer`, whose `await answerer.answer(item)` may run for many items at once.

    Each answer is logged as one MLflow run like `ask` (experiment `orch-serve`; no graph pictures),
    unless `track` is False. Everything is checked (graphs, pool, keys, tracking store) before any
    agent starts.

    Args:
        concurrency: items in flight across all the graphs; more wait their turn. Each backend still
            caps its own calls (the pool's `remote_concurrency`, `local.concurrency`).
    """
    from orch.app.answerer import start_answerers

    refs = [graphs] if isinstance(graphs, str | Path | Graph) else list(graphs)
    first = Session(refs[0], pool)
    sessions = [first] + [
        Session(ref, first.pool_config, pool_source=first.pool_source, pool_hash=first.pool_hash) for ref in refs[1:]
    ]
    for session in sessions:
        session.check_keys()
    settings = load_mlflow_settings() if track else None
    if settings is not None:
        check_tracking_store(settings)
    with start_answerers(sessions, router=router, tracking=settings, concurrency=concurrency) as answerers:
        yield answerers
