"""Reading what orch logged to MLflow: a run's params, tags, metrics, artifacts and children."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow

from orch.errors import OrchError
from orch.mlflow_config import load_mlflow_settings
from orch.tracking.runs import configure_tracking

__all__ = ["LoggedRun", "logged_run", "search_runs"]


class LoggedRun:
    """A finished (or interrupted) run as orch logged it: params, tags, metrics and text artifacts."""

    def __init__(self, client: mlflow.MlflowClient, run: Any) -> None:
        self._client = client
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id
        self.status: str = run.info.status
        self.start_time: int = run.info.start_time
        self.params: dict[str, str] = dict(run.data.params)
        self.tags: dict[str, str] = dict(run.data.tags)
        self.metrics: dict[str, float] = dict(run.data.metrics)

    def text(self, artifact: str) -> str:
        """An artifact's text. Raises OrchError when the run has no such artifact."""
        try:
            path = self._client.download_artifacts(self.run_id, artifact)
        except Exception as exc:
            raise OrchError(f"run {self.run_id} has no {artifact}") from exc
        return Path(path).read_text(encoding="utf-8")

    def children(self) -> list[LoggedRun]:
        runs = self._client.search_runs(
            [self.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{self.run_id}'", max_results=1000
        )
        return [LoggedRun(self._client, r) for r in runs]

    @property
    def experiment_name(self) -> str:
        return self._client.get_experiment(self.experiment_id).name


def _client() -> mlflow.MlflowClient:
    configure_tracking(load_mlflow_settings())  # mlflow.yaml's tracking URI, unless MLFLOW_TRACKING_URI is set
    return mlflow.MlflowClient()


def logged_run(run_id: str) -> LoggedRun:
    """The run `run_id` in the configured store. Raises OrchError if there is none."""
    client = _client()
    try:
        return LoggedRun(client, client.get_run(run_id))
    except Exception as exc:
        raise OrchError(f"no MLflow run {run_id!r} in {client.tracking_uri}: {exc}".splitlines()[0]) from exc


def search_runs(experiment_like: str, filter_string: str, limit: int) -> list[LoggedRun]:
    """Runs of the experiments named like `experiment_like` (SQL LIKE), newest first."""
    client = _client()
    experiments = [e.experiment_id for e in client.search_experiments(filter_string=f"name LIKE '{experiment_like}'")]
    if not experiments:
        return []
    runs = client.search_runs(
        experiments, filter_string=filter_string, order_by=["attributes.start_time DESC"], max_results=limit
    )
    return [LoggedRun(client, r) for r in runs]
