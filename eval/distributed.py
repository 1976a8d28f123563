"""An evaluation's items answered by the workers of Dask distributed: a local cluster of worker
processes (`--workers N`) or an existing cluster (`--scheduler tcp://host:8786`).

Dask schedules; orch only cuts a system's pending items into disjoint batches and submits one task
per batch (`orch.eval.answering.answer_batch`). When a worker dies, Dask gives its tasks to the
others; a re-run batch skips the items already in the shared result store, so an item is never
answered twice and none is lost. A routed system is one task: its router learns in item order.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from orch.errors import ConfigError, OrchError
from orch.settings import get_settings
from orch.store_urls import is_postgres

if TYPE_CHECKING:
    from orch.eval.answering import BatchReport, SystemJob
    from orch.eval.plan import EvalRequest
    from orch.eval.store import ResultStore
    from orch.records import ItemResult

__all__ = ["Engine", "check_engine_request", "open_engine"]

_BATCHES_PER_WORKER = 4
"""Batches per worker: more spread the load and lose less to a dead worker; each costs a start-up
(pool check, store connections, a trace writer) of a few hundred milliseconds."""
_CONNECT_TIMEOUT_S = 10


def check_engine_request(request: EvalRequest, tracking_uri: str) -> None:
    """Refuse, before anything opens, what a distributed evaluation cannot honour.

    Raises:
        ConfigError: both `--workers` and `--scheduler`; a run budget (it would span one process);
            with `--scheduler`, a store or a tracking URI that workers on other machines cannot share.
    """
    if request.workers is None and request.scheduler is None:
        return
    flag = "--workers" if request.workers is not None else "--scheduler"
    if request.workers is not None and request.scheduler is not None:
        raise ConfigError("--scheduler", None, "give --workers N (a local cluster) or --scheduler ADDRESS, not both")
    for name, value in (("--max-cost", request.max_cost), ("--max-time", request.max_time)):
        if value is not None:
            raise ConfigError(
                name, None, f"a run budget is not kept across the workers of {flag}; give it without {flag}"
            )
    if request.scheduler is None:
        return  # one machine: its workers share the state folder and the tracking store
    settings = get_settings()
    for variable, url in (("ORCH_EVAL_STORE", settings.eval_store_url), ("ORCH_CALL_CACHE", settings.call_cache_url)):
        if not is_postgres(url):
            raise ConfigError(
                "environment", variable, f"workers on other machines cannot share {url!r}; use postgresql://…"
            )
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        raise ConfigError(
            "environment",
            "MLFLOW_TRACKING_URI",
            f"workers on other machines cannot share {tracking_uri!r}; use an MLflow server (http://host:5000)",
        )


class Engine:
    """A Dask client, and the one thing orch asks of it: answer these batches, tell me as each ends."""

    def __init__(self, client: Any, description: str) -> None:
        self.client = client
        self.description = description

    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def batches(self, ids: Sequence[str], *, in_order: bool, concurrency: int) -> list[tuple[str, ...]]:
        """Disjoint batches of `ids`, in their order; one batch when the system must run in order."""
        if in_order or not ids:
            return [tuple(ids)] if ids else []
        size = max(concurrency, math.ceil(len(ids) / (self.workers() * _BATCHES_PER_WORKER)))
        return [tuple(ids[start : start + size]) for start in range(0, len(ids), size)]

    def answer_into(
        self,
        done: dict[str, ItemResult],
        store: ResultStore,
        job: SystemJob,
        ids: Sequence[str],
        *,
        in_order: bool,
        on_result: Callable[[ItemResult], None],
    ) -> tuple[int, int, int]:
        """The workers answer `ids`; each batch's results are read back from the shared store into
        `done` as it ends (`on_result` sees each). Returns the workers' (calls, cache hits, traces)."""

        def batch_done(report: BatchReport) -> None:
            for result in store.load(job.system_key, report.answered).values():
                done[result.item.id] = result
                on_result(result)

        reports = self.answer(job, ids, in_order=in_order, on_batch=batch_done)
        done.update(store.load(job.system_key, ids))  # those a worker stored before it died, too
        return sum(r.calls for r in reports), sum(r.cache_hits for r in reports), sum(r.traced for r in reports)

    def answer(
        self, job: SystemJob, ids: Sequence[str], *, in_order: bool, on_batch: Callable[[BatchReport], None]
    ) -> list[BatchReport]:
        """One task per batch; `on_batch` sees each report as its task ends (in any order).

        Raises:
            OrchError: a worker's own error (an endpoint that fails its check, …), or a batch that
                killed the workers it was given to as often as Dask allows (`distributed.scheduler.allowed-failures`).
        """
        from distributed import KilledWorker, as_completed

        from orch.eval.answering import answer_batch

        run = uuid.uuid4().hex[:8]
        futures = [
            self.client.submit(answer_batch, job, batch, key=f"orch-{job.system_key[:8]}-{run}-{n}", pure=False)
            for n, batch in enumerate(self.batches(ids, in_order=in_order, concurrency=job.concurrency))
        ]
        reports: list[BatchReport] = []
        try:
            for future in as_completed(futures, loop=self.client.loop):
                try:
                    report = future.result()
                except KilledWorker as exc:
                    raise OrchError(
                        f"{self.description}: a batch of items killed every worker it ran on ({exc})"
                    ) from None
                reports.append(report)
                on_batch(report)
        finally:
            self.client.cancel([f for f in futures if not f.done()])
        return reports


@contextmanager
def open_engine(workers: int | None, scheduler: str | None) -> Iterator[Engine | None]:
    """A local cluster of `workers` processes, a client of the cluster at `scheduler`, or None (neither).

    Raises:
        ConfigError: the scheduler does not answer (names `--scheduler`).
    """
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is None:
        # one thread per worker: a batch keeps `--concurrency` items in flight on its own event loop
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            yield Engine(client, f"local Dask cluster of {workers} workers")
        return
    try:
        client = Client(scheduler, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError("--scheduler", None, f"{scheduler!r}: no Dask scheduler answers ({exc})") from exc
    with client:
        yield Engine(client, f"Dask scheduler {scheduler}")
