"""One MLflow run: params, metrics, the per-item table, artifacts and one trace per item.

A thin layer in MLflow's own fluent style: each function resolves its inputs and delegates,
takes an optional `run_id`, and plural names log batches. Opening a run is strict (it fails
before the first model call); logging into it is best-effort — a failed upload warns and the
answer still stands — unless `strict` is set, as it is in tests.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, RunTag

import orch.spans as spans
from orch.errors import OrchError
from orch.items import Item
from orch.locks import sqlite_lock
from orch.mlflow_config import MlflowSettings, load_mlflow_settings
from orch.tracking.writer import TraceJob, TraceWriter

__all__ = ["Tracker", "configure_tracking", "metric_key"]


def configure_tracking(settings: MlflowSettings) -> str:
    """Point MLflow at the configured store (`MLFLOW_TRACKING_URI` wins) and return its URI."""
    if settings.tracking_uri and "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.get_tracking_uri()


_BATCH_S = 5.0
"""How often buffered per-item metrics are written: the curves in the UI lag by at most this."""
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_key(*parts: str) -> str:
    """A metric or param name within MLflow's allowed characters, parts joined by dots."""
    return ".".join(_METRIC_UNSAFE.sub("_", p) for p in parts)


class Tracker:
    """One MLflow run: params, metrics, the per-item table, artifacts and per-item traces."""

    def __init__(self, settings: MlflowSettings | None = None) -> None:
        self.settings = settings or load_mlflow_settings()
        configure_tracking(self.settings)
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._writer: TraceWriter | None = None
        """Stores the traces, in a process of its own (from a run's first traced item to its end)."""
        self._traced = 0
        """Traces of finished items handed to the writer since the run was (re)opened: the traces
        it must find written at the end."""
        self._buffered: list[Metric] = []
        self._flushed = time.monotonic()

    @property
    def tracking_uri(self) -> str:
        return mlflow.get_tracking_uri()

    def experiment_name(self, kind: str, benchmark: str = "") -> str:
        template: str = getattr(self.settings.experiments, kind)
        return template.format(benchmark=benchmark or "custom")

    # -- the run ---------------------------------------------------------------------------
    @contextmanager
    def start_run(
        self,
        experiment: str,
        run_name: str,
        *,
        tags: Mapping[str, str] | None = None,
        nested: bool = False,
        run_id: str | None = None,
    ) -> Iterator[str]:
        """Open a run, or reopen `run_id` to resume it (strict: failures raise before any model call).

        The run ends KILLED on Ctrl-C or `kill`, FAILED if another exception escapes, and FINISHED otherwise.
        """
        with sqlite_lock(mlflow.get_tracking_uri()):  # two processes creating a fresh store would race its migrations
            experiment_id = mlflow.set_experiment(experiment).experiment_id
        if run_id is not None:
            run_context = mlflow.start_run(run_id=run_id, nested=nested)
        else:
            run_context = mlflow.start_run(run_name=run_name, tags=dict(tags or {}), nested=nested)
        opened_ms, self._traced = int(time.time() * 1000), 0
        try:
            with run_context as run:
                self.run_id, self.experiment_id = run.info.run_id, experiment_id
                try:
                    yield run.info.run_id
                finally:
                    self.flush_metrics()
                    # interrupted or failing: items cut off in flight have no trace; never mask the cause
                    self._finish_traces(opened_ms, ending_badly=sys.exc_info()[1] is not None)
        except KeyboardInterrupt:
            self.end_as(run.info.run_id, "KILLED")
            raise

    def _finish_traces(self, since_ms: int, *, ending_badly: bool) -> None:
        """Wait until the writer stored this run's traces, check them, and stop it (a run that
        traced nothing never started one)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._traced:
            reply = writer.flush(30.0 if ending_badly else 600.0)  # an interrupted user waits less
            for error in reply.get("errors", []):
                self._warn_or_raise(f"MLflow: a trace was not stored: {error}", ending_badly)
            self._check_traces(since_ms, ending_badly=ending_badly)
        writer.close()

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
        self._best_effort("log params", lambda: mlflow.log_params(clean, run_id=self.run_id))

    def log_metrics(self, metrics: Mapping[str, float | None], step: int | None = None, *, wait: bool = True) -> None:
        """`wait=False` buffers them, written in one batch every `_BATCH_S` seconds and when the run
        ends: per-item curves (running accuracy, router EMAs) would otherwise cost a store round trip
        per item on the event loop (~20 ms on SQLite, even with MLflow's own asynchronous logging)."""
        clean = {metric_key(k): float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
        if wait:
            self._best_effort("log metrics", lambda: mlflow.log_metrics(clean, step=step, run_id=self.run_id))
            return
        now = int(time.time() * 1000)
        self._buffered.extend(Metric(k, v, now, step or 0) for k, v in clean.items())
        if time.monotonic() - self._flushed >= _BATCH_S:
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Write the buffered metrics (MLflow takes at most 1,000 per batch)."""
        pending, self._buffered, self._flushed = self._buffered, [], time.monotonic()
        client = mlflow.MlflowClient()
        for start in range(0, len(pending), 1000):
            batch = pending[start : start + 1000]
            self._best_effort("log metrics", lambda b=batch: client.log_batch(self.run_id, metrics=b))

    def end_as(self, run_id: str, status: str) -> None:
        """Mark an ended run `FAILED` (items whose calls failed) or `KILLED` (interrupted); a re-run resumes it."""
        self._best_effort(f"mark the run {status}", lambda: mlflow.MlflowClient().set_terminated(run_id, status))

    def set_tags(self, tags: Mapping[str, object]) -> None:
        """Tags, unlike params, may change: what is only known once a run's items are in."""
        clean = [RunTag(metric_key(k), str(v)[:5000]) for k, v in tags.items()]
        self._best_effort("set tags", lambda: mlflow.MlflowClient().log_batch(self.run_id, tags=clean))

    def log_table(self, rows: list[dict[str, object]], artifact_file: str = "items.json") -> None:
        import pandas as pd

        frame = pd.DataFrame(rows)
        self._best_effort(
            "log the item table", lambda: mlflow.log_table(data=frame, artifact_file=artifact_file, run_id=self.run_id)
        )

    def log_text(self, text: str, artifact_file: str) -> None:
        self._best_effort(f"log {artifact_file}", lambda: mlflow.log_text(text, artifact_file, run_id=self.run_id))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._best_effort(f"log {path.name}", lambda: mlflow.log_artifact(str(path), artifact_path, run_id=self.run_id))

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self._best_effort(
            f"log {artifact_file}", lambda: mlflow.MlflowClient().log_figure(self.run_id, figure, artifact_file)
        )

    # -- traces ----------------------------------------------------------------------------
    @contextmanager
    def item_trace(
        self, item: Item, attributes: Mapping[str, object] | None = None
    ) -> Iterator[Callable[[Any], None] | None]:
        """One trace per item: a root span `item <id>` with orch's node and call spans inside (see
        `orch.spans`: a few spans per item, not one per LangChain runnable).

        Yields a finisher that records the result's answer and correctness on the span.
        """
        if not self.settings.tracing.traces(item.id):
            yield None
            return
        if self._writer is None:  # started by the first traced item: its MLflow import overlaps the calls
            self._writer = TraceWriter(mlflow.get_tracking_uri())
        writer = self._writer
        recorder = spans.SpanRecorder()
        outcome: dict[str, Any] = {"tags": {"item_id": item.id}}
        inputs = {"id": item.id, "question": item.question, "options": list(item.options or [])}
        attributes = {"item_id": item.id, "gold": item.answer or "", **dict(attributes or {})}
        with spans.tracing(recorder), recorder.span(f"item {item.id}", "CHAIN", inputs, attributes) as root:

            def finish(result: Any) -> None:
                root.set_outputs({"answer": result.answer, "correct": result.correct, "method": result.decision.method})
                root.set_attributes({"answer": result.answer or "", "correct": str(result.correct)})
                if result.status == "failed":  # the Traces view shows it as an error, with the reasons
                    root.fail("; ".join(result.failures))
                    root.set_attributes({"failures": "; ".join(result.failures)})
                outcome["tags"].update(graph=result.graph, correct=str(result.correct))
                outcome["correct"] = result.correct

            yield finish
        self._traced += 1
        ids = (self.run_id or "", self.experiment_id or "")
        writer.submit(TraceJob(*ids, recorder.spans, outcome["tags"], item.answer, outcome.get("correct")))

    def _check_traces(self, since_ms: int, *, ending_badly: bool = False) -> None:
        """Count the traces written since the run was opened; say so (and log it) if any are missing."""
        if not self._traced:
            return
        found = self._best_effort(
            "count traces",
            lambda: mlflow.search_traces(
                locations=[self.experiment_id],
                run_id=self.run_id,
                filter_string=f"trace.timestamp_ms >= {since_ms}",
                include_spans=False,
                return_type="list",
                max_results=self._traced + 100,
            ),
        )
        if found is None:
            return
        done = sum(t.info.state.value in ("OK", "ERROR") for t in found)
        missing = max(0, self._traced - done)
        self.log_metrics({"traces_written": done, "traces_missing": missing})
        if missing:
            message = f"MLflow: {missing} of {self._traced} item traces were not written"
            self._warn_or_raise(message, ending_badly)

    def _warn_or_raise(self, message: str, ending_badly: bool) -> None:
        if self.settings.strict and not ending_badly:
            raise OrchError(message)
        warnings.warn(message, stacklevel=4)
