"""Answering a system's pending items: the one code path an evaluation takes, whether its items are
answered in this process or by the workers of a distributed engine (`orch.eval.distributed`).

Each result is stored the moment it exists; a routed system folds the feedback of the items already
stored, in sample order, before routing any pending one. A worker gets a `SystemJob` (plain data,
picklable) and a batch of item ids, and opens everything else itself with `answer_batch`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orch.app.recording import router_metrics
from orch.app.session import RouterOptions, Session
from orch.config import PoolConfig
from orch.errors import OrchError
from orch.graphs import Graph
from orch.items import Item
from orch.mlflow_config import MlflowSettings
from orch.nodes.budgets import Budgets, RunBudget
from orch.nodes.prompts import PROMPT_VERSION
from orch.records import ItemResult
from orch.routers.report import stored_observations
from orch.settings import get_settings

if TYPE_CHECKING:
    from orch.backends.pool import AgentPool
    from orch.eval.plan import EvalPlan
    from orch.eval.store import ResultStore
    from orch.tracking import Tracker
    from orch.tracking.writer import TraceWriter

__all__ = ["BatchReport", "SystemJob", "WorkerError", "answer_batch", "answer_pending"]


class WorkerError(OrchError):
    """An `OrchError` a worker raised, carried back as its one line (the original may not unpickle)."""


@dataclass(frozen=True)
class SystemJob:
    """One system of an evaluation, as every process answering its items needs it."""

    graph: Graph
    pool_config: PoolConfig
    pool_source: str
    pool_hash: str
    system_key: str
    """Results are stored under it (see `EvalPlan.system_key`)."""
    items: tuple[Item, ...]
    """The whole sample, in its order: the order that defines "before" for a router."""
    router_id: str
    router_scope: str
    concurrency: int = 1
    """Items in flight at once, per process."""
    budgets: Budgets = field(default_factory=Budgets)
    """Per-item budgets (a run budget spans one process: distributed evaluations refuse one)."""
    replay: bool = False
    store_url: str = ""
    cache_url: str = ""
    router_store_url: str | None = None
    prompt_version: str = ""
    mlflow: MlflowSettings = field(default_factory=MlflowSettings)
    run_id: str = ""
    """The system's MLflow run (opened by the coordinating process), where workers put traces."""
    experiment_id: str = ""

    @classmethod
    def of(
        cls,
        plan: EvalPlan,
        graph: Graph,
        system_key: str,
        *,
        router_id: str,
        router_scope: str,
        store_url: str,
        cache_url: str,
        mlflow: MlflowSettings,
        run: tuple[str, str],
    ) -> SystemJob:
        """A planned evaluation's system; `run` is its MLflow (run id, experiment id)."""
        budgets, request = plan.budgets, plan.request
        return cls(
            graph=graph,
            pool_config=plan.pool_config,
            pool_source=plan.pool_source,
            pool_hash=plan.pool_hash,
            system_key=system_key,
            items=tuple(plan.sample.items),
            router_id=router_id,
            router_scope=router_scope,
            concurrency=request.concurrency,
            budgets=Budgets(item_max_cost=budgets.item_max_cost, item_max_time=budgets.item_max_time),
            replay=request.replay,
            store_url=store_url,
            cache_url=cache_url,
            router_store_url=get_settings().router_store,
            prompt_version=PROMPT_VERSION,
            mlflow=mlflow,
            run_id=run[0],
            experiment_id=run[1],
        )

    def router_options(self, done: dict[str, ItemResult], tracker: Tracker) -> RouterOptions:
        """A routed system learns in item order from a cold start (nothing reused silently); the
        feedback of the items already stored is folded again before any pending item is routed."""
        return RouterOptions(
            router_id=self.router_id,
            scope=self.router_scope,
            fresh=True,
            order=[i.id for i in self.items],
            replayed=[(i.id, stored_observations(done[i.id])) for i in self.items if i.id in done],
            on_update=router_metrics(tracker),
            store_url=self.router_store_url,
        )


@dataclass(frozen=True)
class BatchReport:
    """What a worker did with one batch (its results are in the shared store)."""

    answered: tuple[str, ...]
    """Ids of the items it answered (stored, or recorded as failed); those already stored are skipped."""
    calls: int
    cache_hits: int
    traced: int
    worker: str = ""


def answer_pending(
    job: SystemJob,
    session: Session,
    agents: AgentPool,
    store: ResultStore,
    tracker: Tracker,
    pending: Sequence[Item],
    done: dict[str, ItemResult],
    *,
    budget: RunBudget | None = None,
    on_started: Callable[[Session], None] = lambda session: None,
    on_result: Callable[[ItemResult], None] = lambda result: None,
    log_final_state: bool = True,
) -> None:
    """Answer `pending` with the session's graph, storing each result at once into `done` and the store.

    `on_started` sees the started session (its router open) before the first item; a routed
    system's final state is logged unless `log_final_state` is off (its items were answered elsewhere)."""
    router = job.router_options(done, tracker)
    with session.start(agents, router=router, item_context=tracker.item_trace) as runner:
        on_started(session)

        def stored(result: ItemResult) -> None:
            store.save(job.system_key, result)
            done[result.item.id] = result
            on_result(result)

        runner.batch(pending, concurrency=job.concurrency, on_result=stored, budget=budget)
        if session.router is not None and log_final_state:
            tracker.log_text(session.router.service.state.model_dump_json(indent=2), "router/final_state.json")


_WRITERS: dict[tuple[str, str, int], TraceWriter] = {}
"""The trace writer of each (run, worker thread), kept for the process's life: a worker answers many
batches of one system, and each new writer would start a process that imports MLflow (seconds)."""


def _kept_writer(tracker: Tracker, job: SystemJob) -> TraceWriter:
    key = (job.mlflow.tracking_uri or "", job.run_id, threading.get_ident())
    if key not in _WRITERS:
        for old in [k for k in _WRITERS if k[2] == key[2]]:  # this thread's writer of an earlier run
            _WRITERS.pop(old).close()
        _WRITERS[key] = tracker.run_trace_writer(job.run_id, job.experiment_id)
    return _WRITERS[key]


@atexit.register
def _close_writers() -> None:
    while _WRITERS:
        _WRITERS.popitem()[1].close()


def answer_batch(job: SystemJob, batch: Sequence[str]) -> BatchReport:
    """On a worker: answer the items of `batch` that are not stored yet, through the same session,
    store and cache as a local evaluation, tracing into the system's run. Safe to run again (a
    re-queued batch of a worker that died): what is stored is never answered twice."""
    import socket

    try:
        return _answer_batch(job, batch)
    except WorkerError:
        raise
    except OrchError as exc:
        raise WorkerError(f"worker {socket.gethostname()}: {exc}") from None


def _answer_batch(job: SystemJob, batch: Sequence[str]) -> BatchReport:
    import socket

    from orch.backends.cache import CallCache
    from orch.backends.pool import AgentPool
    from orch.eval.store import ResultStore
    from orch.tracking import Tracker

    cache = CallCache(job.cache_url, prompt_version=job.prompt_version, replay=job.replay)
    store = ResultStore(job.store_url)
    try:
        wanted = set(batch)
        done = store.load(job.system_key, [i.id for i in job.items])
        pending = [i for i in job.items if i.id in wanted and i.id not in done]
        answered: list[str] = []
        tracker = Tracker(job.mlflow)
        if pending:
            session = Session(job.graph, job.pool_config, pool_source=job.pool_source, pool_hash=job.pool_hash)
            with (
                tracker.attach(job.run_id, job.experiment_id, writer=_kept_writer(tracker, job)),
                AgentPool.start(job.pool_config, session.agents, source=job.pool_source, cache=cache) as agents,
            ):
                answer_pending(
                    job,
                    session,
                    agents,
                    store,
                    tracker,
                    pending,
                    done,
                    budget=RunBudget(job.budgets),
                    on_result=lambda result: answered.append(result.item.id),
                )
        stats = cache.stats
        return BatchReport(tuple(answered), stats.misses, stats.hits, tracker.traced, socket.gethostname())
    finally:
        store.close()
        cache.close()
