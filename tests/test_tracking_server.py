"""An evaluation tracked on a real `mlflow server` whose backend store is the test PostgreSQL, with
orch's own result store and call cache on the same server: the set-up a shared deployment uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mlflow import MlflowClient

from orch.eval.evaluate import evaluate
from tests.mlflow_server import mlflow_server
from tests.postgres import postgres_server
from tests.test_evaluate import request, server, setup  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE mlflow")
            admin.execute("CREATE DATABASE orch")
        yield url.rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def tracking_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = postgres.replace("postgresql://", "postgresql+psycopg://") + "/mlflow"
    with mlflow_server(backend, tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def test_an_evaluation_is_tracked_on_an_mlflow_server_with_a_database_backend(
    setup: dict[str, Any],  # noqa: F811
    postgres: str,
    tracking_server: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    monkeypatch.setenv("ORCH_EVAL_STORE", f"{postgres}/orch")
    monkeypatch.setenv("ORCH_CALL_CACHE", f"{postgres}/orch")
    outcome = evaluate(request(setup, systems="single:strong,vote"), pool=setup["pool"])
    assert outcome.calls_made == 3 * 8 and outcome.failed_items == 0  # the vote asks every agent once

    client = MlflowClient(tracking_server)
    parent = client.get_run(outcome.record.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.params["n_items"] == "8"
    report = client.download_artifacts(parent.info.run_id, "report.md", str(tmp_path))
    assert Path(report).read_text() == outcome.markdown
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.tags["orch.system"] for c in children) == ["single:strong", "vote"]
    for child in children:  # every item's trace stored through the server
        assert (child.data.metrics["traces_written"], child.data.metrics["traces_missing"]) == (8, 0)
        traces = client.search_traces(locations=[parent.info.experiment_id], run_id=child.info.run_id)
        assert len(traces) == 8
