"""Evaluations as logged in MLflow: re-render a report or list them, with no model call."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.entities import Run

from orch.errors import OrchError
from orch.eval.report import EvalReport, SystemResults, build_report, render_markdown
from orch.runner import ItemResult
from orch.tracking import configure_tracking, load_mlflow_settings

__all__ = ["list_evaluations", "load_run_results", "load_systems", "report_from_run", "run_params"]


def _client() -> MlflowClient:
    configure_tracking(load_mlflow_settings())  # mlflow.yaml's tracking URI, unless MLFLOW_TRACKING_URI is set
    return MlflowClient()


def _run(client: MlflowClient, run_id: str) -> Run:
    try:
        return client.get_run(run_id)
    except Exception as exc:
        raise OrchError(f"no MLflow run {run_id!r} in {client.tracking_uri}: {exc}".splitlines()[0]) from exc


def run_params(run_id: str) -> dict[str, str]:
    return dict(_run(_client(), run_id).data.params)


def load_run_results(run_id: str) -> list[ItemResult]:
    """The per-item results an `ask`, `run` or system run logged as `results.jsonl`."""
    client = _client()
    _run(client, run_id)
    try:
        path = client.download_artifacts(run_id, "results.jsonl")
    except Exception as exc:
        raise OrchError(f"run {run_id} has no results.jsonl (logged by orch ask/run/eval)") from exc
    with open(path, encoding="utf-8") as handle:
        return [ItemResult.model_validate_json(line) for line in handle if line.strip()]


def load_systems(run_id: str) -> list[SystemResults]:
    """Each system's logged results of the evaluation `run_id`, in the evaluation's system order."""
    client = _client()
    parent = _run(client, run_id)
    if parent.data.tags.get("orch.kind") != "evaluation":
        raise OrchError(f"run {run_id} is not an orch evaluation (its tag orch.kind is not 'evaluation')")
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'", max_results=1000
    )
    by_system = {c.data.tags.get("orch.system"): c for c in children}
    systems = []
    for name in parent.data.params["systems"].split(","):
        child = by_system.get(name)
        if child is None:
            raise OrchError(f"evaluation {run_id}: no logged run for system {name!r} (the evaluation did not finish)")
        kind = child.data.params.get("kind", "graph")
        systems.append(
            SystemResults(name=name, kind=kind, baseline=kind != "graph", results=load_run_results(child.info.run_id))
        )
    return systems


def report_from_run(run_id: str) -> tuple[EvalReport, str]:
    """Rebuild the report from each system run's `results.jsonl`, in the evaluation's system order.

    Raises:
        OrchError: the run is not an orch evaluation or its results are missing.
    """
    systems = load_systems(run_id)
    client = _client()
    params = _run(client, run_id).data.params
    notes: list[str] = []
    try:
        with open(client.download_artifacts(run_id, "report.json"), encoding="utf-8") as handle:
            notes = json.load(handle).get("notes", [])
    except Exception:  # an interrupted evaluation has no report yet; the numbers do not need it
        notes = []
    report = build_report(
        systems,
        benchmark=params["benchmark"],
        sample=params["sample"],
        seed=int(params["seed"]),
        dataset_sha256=params["dataset_sha256"],
        notes=notes,
    )
    return report, render_markdown(report)


def list_evaluations(limit: int = 20) -> list[dict[str, object]]:
    client = _client()
    experiments = [e.experiment_id for e in client.search_experiments(filter_string="name LIKE 'orch-eval-%'")]
    if not experiments:
        return []
    runs = client.search_runs(
        experiments,
        filter_string="tags.`orch.kind` = 'evaluation'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    names = {e: client.get_experiment(e).name for e in experiments}
    return [
        {
            "run_id": r.info.run_id,
            "experiment": names[r.info.experiment_id],
            "started": datetime.fromtimestamp(r.info.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
            "status": r.info.status,
            "sample": r.data.params.get("sample", ""),
            "seed": r.data.params.get("seed", ""),
            "items": r.data.params.get("n_items", ""),
            "systems": r.data.params.get("systems", ""),
            "calls": int(r.data.metrics.get("calls_made", 0)),
        }
        for r in runs
    ]
