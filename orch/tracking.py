"""Everything orch logs to MLflow, and the only module that imports `mlflow`.

A thin layer in MLflow's own fluent style: each function resolves its inputs and delegates,
takes an optional `run_id`, and plural names log batches. Opening a run is strict (it fails
before the first model call); logging into it is best-effort — a failed upload warns and the
answer still stands — unless `strict` is set, as it is in tests.
"""

from __future__ import annotations

import os

# Before mlflow is imported anywhere: no telemetry, and no fetch of MLflow's model price catalog
# from GitHub when traces of LLM calls are logged (orch runs offline and prices calls itself).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")

import hashlib
import json
import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import SpanType
from pydantic import BaseModel, ConfigDict, Field

from orch.errors import ConfigError
from orch.items import Item
from orch.settings import get_settings
from orch.yamlio import load_model, load_yaml_mapping

__all__ = [
    "ExperimentNames",
    "MlflowSettings",
    "Tracker",
    "configure_tracking",
    "load_mlflow_settings",
    "metric_key",
]


class ExperimentNames(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ask: str = "orch-ask"
    run: str = "orch-{benchmark}"
    eval: str = "orch-eval-{benchmark}"


class TracingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    """Fraction of items traced, chosen by a hash of the item id (the same items every time)."""


class MlflowSettings(BaseModel):
    """The shape of `mlflow.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str | None = None
    experiments: ExperimentNames = ExperimentNames()
    tracing: TracingSettings = TracingSettings()
    strict: bool = False


def load_mlflow_settings(path: Path | None = None) -> MlflowSettings:
    """Read `mlflow.yaml` (or `ORCH_MLFLOW_CONFIG`); a missing default file means MLflow's defaults."""
    explicit = path is not None or "ORCH_MLFLOW_CONFIG" in os.environ
    path = path or get_settings().mlflow_config
    if not path.is_file() and not explicit:
        return MlflowSettings()
    settings = load_model(MlflowSettings, load_yaml_mapping(path, ConfigError), path, ConfigError)
    if (
        settings.tracking_uri
        and settings.tracking_uri.rstrip("/").endswith("mlruns")
        and "://" not in settings.tracking_uri
    ):
        raise ConfigError(
            path,
            "tracking_uri",
            f"{settings.tracking_uri!r} is MLflow's file store (maintenance mode); use 'sqlite:///mlflow.db'",
        )
    return settings


def configure_tracking(settings: MlflowSettings) -> str:
    """Point MLflow at the configured store (`MLFLOW_TRACKING_URI` wins) and return its URI."""
    if settings.tracking_uri and "MLFLOW_TRACKING_URI" not in os.environ:
        mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.get_tracking_uri()


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

        The run ends FAILED if an exception escapes (Ctrl-C included) and FINISHED otherwise.
        """
        experiment_id = mlflow.set_experiment(experiment).experiment_id
        self._configure_tracing()
        if run_id is not None:
            run_context = mlflow.start_run(run_id=run_id, nested=nested)
        else:
            run_context = mlflow.start_run(run_name=run_name, tags=dict(tags or {}), nested=nested)
        with run_context as run:
            self.run_id, self.experiment_id = run.info.run_id, experiment_id
            try:
                yield run.info.run_id
            finally:
                if not nested:  # flushing waits on the exporter thread (~1 s): once per top-level run
                    self._best_effort("flush traces", lambda: mlflow.flush_trace_async_logging())

    def _configure_tracing(self) -> None:
        enabled = self.settings.tracing.enabled
        # run_tracer_inline keeps LangChain's callbacks in our asyncio task, so node spans nest
        # under the item span instead of starting traces of their own.
        mlflow.langchain.autolog(disable=not enabled, silent=True, log_traces=enabled, run_tracer_inline=True)

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

    def log_metrics(self, metrics: Mapping[str, float | None], step: int | None = None) -> None:
        clean = {metric_key(k): float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
        self._best_effort("log metrics", lambda: mlflow.log_metrics(clean, step=step, run_id=self.run_id))

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
    def traced(self, item: Item) -> bool:
        rate = self.settings.tracing.sample_rate
        if not self.settings.tracing.enabled or rate <= 0:
            return False
        if rate >= 1:
            return True
        bucket = int(hashlib.sha256(item.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return bucket < rate

    @contextmanager
    def item_trace(
        self, item: Item, attributes: Mapping[str, object] | None = None
    ) -> Iterator[Callable[[Any], None] | None]:
        """One trace per item: a root span `item <id>` with the graph's node and model spans inside.

        Yields a finisher that records the result's answer and correctness on the span.
        """
        if not self.traced(item):
            yield None
            return
        with mlflow.start_span(name=f"item {item.id}", span_type=SpanType.CHAIN, run_id=self.run_id) as span:
            span.set_inputs({"id": item.id, "question": item.question, "options": list(item.options or [])})
            span.set_attributes({"item_id": item.id, "gold": item.answer or "", **dict(attributes or {})})

            def finish(result: Any) -> None:
                span.set_outputs({"answer": result.answer, "correct": result.correct, "method": result.decision.method})
                span.set_attributes({"answer": result.answer or "", "correct": str(result.correct)})
                mlflow.update_current_trace(
                    tags={"item_id": item.id, "graph": result.graph, "correct": str(result.correct)}
                )

            yield finish

    def run_url(self) -> str | None:
        return f"experiments/{self.experiment_id}/runs/{self.run_id}" if self.run_id else None
