"""What a run logs: params, metrics (written now or buffered), tags, the item table and artifacts.

Logging is best-effort: a failed upload warns and the answer still stands, unless `strict` is set,
as it is in tests. `Tracker` adds the run itself and its traces.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orch.mlflow_config import MlflowSettings
from orch.tracking.runs import RunThread, lazy_mlflow

__all__ = ["RunLog", "metric_key"]


_BATCH_S = 5.0
"""How often buffered per-item metrics are written: the curves in the UI lag by at most this."""
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(*parts: str) -> str:
    """A metric or param name within MLflow's allowed characters, parts joined by dots."""
    return ".".join(_METRIC_UNSAFE.sub("_", p) for p in parts)


class RunLog:
    """The logging half of a `Tracker`: every call names the open run, which its subclass owns."""

    settings: MlflowSettings
    _run: RunThread | None
    _buffered: list[tuple[str, float, int, int]]
    _flushed: float

    @property
    def run_id(self) -> str | None:
        """The open run's id (waiting for it to be opened); None outside a run."""
        return self._run.ids()[0] if self._run is not None else None

    def in_background(self, task: Callable[[], None]) -> None:
        """Do `task` on the run's MLflow thread once the run is open (in order with the rest)."""
        assert self._run is not None, "in_background outside a run"
        self._run.submit(task)

    def _best_effort(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:
            if self.settings.strict:
                raise
            warnings.warn(f"MLflow: could not {what}: {type(exc).__name__}: {exc}", stacklevel=3)
            return None

    # -- logging ---------------------------------------------------------------------------
    def log_params(self, params: Mapping[str, object]) -> None:
        clean = {metric_key(k): (v if isinstance(v, str) else json.dumps(v))[:6000] for k, v in params.items()}
        self._best_effort("log params", lambda: lazy_mlflow().log_params(clean, run_id=self.run_id))

    def log_metrics(self, metrics: Mapping[str, float | None], step: int | None = None, *, wait: bool = True) -> None:
        """`wait=False` buffers them, written in one batch every `_BATCH_S` seconds and when the run
        ends: per-item curves (running accuracy, router EMAs) would otherwise cost a store round trip
        per item on the event loop (~20 ms on SQLite, even with MLflow's own asynchronous logging)."""
        clean = {metric_key(k): float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
        if wait:
            self._best_effort("log metrics", lambda: lazy_mlflow().log_metrics(clean, step=step, run_id=self.run_id))
            return
        now = int(time.time() * 1000)
        self._buffered.extend((k, v, now, step or 0) for k, v in clean.items())
        if time.monotonic() - self._flushed >= _BATCH_S and self._run is not None:
            pending, self._buffered, self._flushed = self._buffered, [], time.monotonic()
            self.in_background(lambda: self._write_metrics(pending))

    def flush_metrics(self) -> None:
        """Write the buffered metrics now."""
        pending, self._buffered, self._flushed = self._buffered, [], time.monotonic()
        self._write_metrics(pending)

    def _write_metrics(self, pending: list[tuple[str, float, int, int]]) -> None:
        """MLflow takes at most 1,000 metrics per batch."""
        from mlflow.entities import Metric

        client = lazy_mlflow().MlflowClient()
        for start in range(0, len(pending), 1000):
            batch = pending[start : start + 1000]
            self._best_effort(
                "log metrics", lambda b=batch: client.log_batch(self.run_id, metrics=[Metric(*m) for m in b])
            )

    def end_as(self, run_id: str, status: str) -> None:
        """Mark an ended run `FAILED` (items whose calls failed) or `KILLED` (interrupted); a re-run resumes it."""
        self._best_effort(f"mark the run {status}", lambda: lazy_mlflow().MlflowClient().set_terminated(run_id, status))

    def set_tags(self, tags: Mapping[str, object]) -> None:
        """Tags, unlike params, may change: what is only known once a run's items are in."""
        from mlflow.entities import RunTag

        clean = [RunTag(metric_key(k), str(v)[:5000]) for k, v in tags.items()]
        self._best_effort("set tags", lambda: lazy_mlflow().MlflowClient().log_batch(self.run_id, tags=clean))

    def log_table(self, rows: list[dict[str, object]], artifact_file: str = "items.json") -> None:
        import pandas as pd

        frame = pd.DataFrame(rows)
        self._best_effort(
            "log the item table",
            lambda: lazy_mlflow().log_table(data=frame, artifact_file=artifact_file, run_id=self.run_id),
        )

    def log_text(self, text: str, artifact_file: str) -> None:
        self._best_effort(
            f"log {artifact_file}", lambda: lazy_mlflow().log_text(text, artifact_file, run_id=self.run_id)
        )

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._best_effort(
            f"log {path.name}", lambda: lazy_mlflow().log_artifact(str(path), artifact_path, run_id=self.run_id)
        )

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self._best_effort(
            f"log {artifact_file}", lambda: lazy_mlflow().MlflowClient().log_figure(self.run_id, figure, artifact_file)
        )
