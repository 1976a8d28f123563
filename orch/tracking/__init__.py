"""Everything orch logs to MLflow, and the only package that imports `mlflow`: runs and their
params, metrics, tables and artifacts (`tracker`), traces stored by a process of their own (`writer`),
and reading logged runs back (`logged`)."""

import os

# Before mlflow is imported anywhere: no telemetry, and no fetch of MLflow's model price catalog
# from GitHub when traces of LLM calls are logged (orch runs offline and prices calls itself).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")


from typing import TYPE_CHECKING, Any

from orch.tracking.runs import configure_tracking
from orch.tracking.tracker import Tracker, metric_key

if TYPE_CHECKING:
    from orch.tracking.logged import LoggedRun, logged_run, search_runs

__all__ = ["LoggedRun", "Tracker", "configure_tracking", "logged_run", "metric_key", "search_runs"]


def __getattr__(name: str) -> Any:
    """Reading runs back imports MLflow at once; a run imports it on its own thread (`runs`)."""
    if name in ("LoggedRun", "logged_run", "search_runs"):
        from orch.tracking import logged

        return getattr(logged, name)
    raise AttributeError(f"module 'orch.tracking' has no attribute {name!r}")
