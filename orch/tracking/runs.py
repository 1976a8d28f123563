"""Opening an MLflow run off the caller's thread, so the first model call does not wait for it.

On a fresh SQLite store, creating the database and the run takes ~1.5 s (MLflow's migrations) —
half of orch's start-up. `RunThread` does it in a thread of its own while the agents start and
the first calls go out (the event loop mostly waits on the network), then does the run's other
MLflow work in the order it was handed over: setup params, buffered metrics. Only MLflow's
client API is used here: the fluent API keeps its active run per thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING

from orch.errors import OrchError
from orch.locks import sqlite_lock
from orch.mlflow_config import MlflowSettings

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["RunThread", "configure_tracking", "lazy_mlflow", "open_run", "prepare_experiment"]


def lazy_mlflow() -> ModuleType:
    """MLflow, imported at first use (~1 s): by a run's thread while the first calls go out."""
    import mlflow

    return mlflow


def configure_tracking(settings: MlflowSettings) -> str:
    """Point MLflow at the configured store (`MLFLOW_TRACKING_URI` wins) and return its URI."""
    mlflow = lazy_mlflow()
    if settings.tracking_uri and "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.get_tracking_uri()


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id, created if missing (another process may create it at the same time)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    if (found := client.get_experiment_by_name(name)) is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_experiment_by_name(name).experiment_id


def _client(settings: MlflowSettings, experiment: str) -> tuple[MlflowClient, str]:
    uri = configure_tracking(settings)
    with sqlite_lock(uri):  # two processes creating a fresh store would race its migrations
        client = lazy_mlflow().MlflowClient()  # (which creating a client runs)
        return client, _experiment_id(client, experiment)


def prepare_experiment(settings: MlflowSettings, experiment: str) -> str:
    """Import MLflow, create the store and the experiment now, and return its id: a server does
    this at start, so that its first request does not wait for it (seconds on a fresh store)."""
    return _client(settings, experiment)[1]


def open_run(
    settings: MlflowSettings,
    experiment: str,
    run_name: str,
    tags: Mapping[str, str],
    *,
    parent_run_id: str | None = None,
    run_id: str | None = None,
) -> tuple[str, str]:
    """Create a run (with MLflow's own source and user tags, as `mlflow.start_run` adds them), or
    mark `run_id` running again to resume it; (run id, experiment id)."""
    from mlflow.tracking.context import registry as context_registry
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client, experiment_id = _client(settings, experiment)
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        return run_id, experiment_id
    extra = {MLFLOW_PARENT_RUN_ID: parent_run_id} if parent_run_id else {}
    run = client.create_run(experiment_id, run_name=run_name, tags=context_registry.resolve_tags({**tags, **extra}))
    return run.info.run_id, experiment_id


class RunThread:
    """One thread doing a run's MLflow work in order: the opening first, then each task handed over."""

    def __init__(self, opening: Callable[[], tuple[str, str]]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orch-mlflow")
        self._opened: Future[tuple[str, str]] = self._pool.submit(opening)
        self._tasks: list[Future[None]] = []

    def ids(self) -> tuple[str, str]:
        """(run id, experiment id), waiting for the opening; `OrchError` if it failed."""
        try:
            return self._opened.result()
        except Exception as exc:
            raise OrchError(f"MLflow: could not open the run: {type(exc).__name__}: {exc}".splitlines()[0]) from exc

    def submit(self, task: Callable[[], None]) -> None:
        """Run `task` after the opening (skipped if it failed: `settle` reports that)."""
        self._tasks = [t for t in self._tasks if not t.done() or t.exception() is not None]
        self._tasks.append(self._pool.submit(lambda: None if self._opened.exception() else task()))

    def settle(self) -> BaseException | None:
        """Wait for every task handed over; the first one's failure, if any (strict logging)."""
        failures = [task.exception() for task in self._tasks]
        return next((f for f in failures if f is not None), None)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
