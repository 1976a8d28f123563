"""Evaluations as logged in MLflow: re-render a report or list them, with no model call.

A re-rendered report is the live one: the same systems in the same order, the same baselines
(including graphs compared as baselines with `--baseline`), the same budget tolerance and notes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from orch.app.feedback import logged_results
from orch.errors import OrchError
from orch.eval.noninferiority import DEFAULT_MARGIN
from orch.eval.report import EvalReport, SystemResults, build_report, render_markdown
from orch.tracking import LoggedRun, logged_run, search_runs

__all__ = ["list_evaluations", "load_systems", "report_from_run"]


def _evaluation(run_id: str) -> LoggedRun:
    parent = logged_run(run_id)
    if parent.tags.get("orch.kind") != "evaluation":
        raise OrchError(f"run {run_id} is not an orch evaluation (its tag orch.kind is not 'evaluation')")
    return parent


def _is_baseline(child: LoggedRun, parent: LoggedRun) -> bool:
    """As the live evaluation decided it: its logged `baseline` param (older runs: the parent's list, then the kind)."""
    if "baseline" in child.params:
        return child.params["baseline"].lower() == "true"
    if "baselines" in parent.params:
        return child.tags.get("orch.system", "") in parent.params["baselines"].split(",")
    return child.params.get("kind", "graph") != "graph"


def load_systems(run_id: str) -> list[SystemResults]:
    """Each system's logged results of the evaluation `run_id`, in the evaluation's system order."""
    parent = _evaluation(run_id)
    by_system = {c.tags.get("orch.system"): c for c in parent.children()}
    systems = []
    for name in parent.params["systems"].split(","):
        child = by_system.get(name)
        if child is None:
            raise OrchError(f"evaluation {run_id}: no logged run for system {name!r} (the evaluation did not finish)")
        systems.append(
            SystemResults(
                name=name,
                kind=child.params.get("kind", "graph"),
                baseline=_is_baseline(child, parent),
                results=logged_results(child.run_id),
            )
        )
    return systems


def report_from_run(run_id: str) -> tuple[EvalReport, str]:
    """Rebuild the report from each system run's `results.jsonl`, in the evaluation's system order.

    Raises:
        OrchError: the run is not an orch evaluation or its results are missing.
    """
    parent = _evaluation(run_id)
    systems = load_systems(run_id)
    params = parent.params
    try:
        logged = json.loads(parent.text("report.json"))
    except OrchError:  # an interrupted evaluation has no report yet; the numbers do not need it
        logged = {}
    # the margin of the last live report (a re-run may change it; params keep the first run's)
    margin = logged.get("noninferiority_margin", params.get("noninferiority_margin", DEFAULT_MARGIN))
    report = build_report(
        systems,
        benchmark=params["benchmark"],
        sample=params["sample"],
        seed=int(params["seed"]),
        dataset_sha256=params["dataset_sha256"],
        budget_tolerance=float(params.get("budget_tolerance", 0.25)),
        noninferiority_margin=float(margin),
        notes=logged.get("notes", []),
    )
    return report, render_markdown(report)


def list_evaluations(limit: int = 20) -> list[dict[str, object]]:
    runs = search_runs("orch-eval-%", "tags.`orch.kind` = 'evaluation'", limit)
    return [
        {
            "run_id": r.run_id,
            "benchmark": r.experiment_name.removeprefix("orch-eval-"),
            "started": datetime.fromtimestamp(r.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
            "status": r.status,
            "sample": r.params.get("sample", ""),
            "seed": r.params.get("seed", ""),
            "items": r.params.get("n_items", ""),
            "systems": r.params.get("systems", ""),
            "best": r.tags.get("orch.best_system", ""),
            "verdict": r.tags.get("orch.verdict", ""),
            "calls": int(r.metrics.get("calls_made", 0)),
        }
        for r in runs
    ]
