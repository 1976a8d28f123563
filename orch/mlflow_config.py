"""The shape of `mlflow.yaml`: tracking URI, experiment names, tracing, strictness. Read without
importing MLflow, so a bad file is reported before anything heavy loads."""

from __future__ import annotations

import hashlib
import os
import string
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orch.errors import ConfigError
from orch.settings import get_settings
from orch.yamlio import load_model, load_yaml_mapping

__all__ = ["ExperimentNames", "MlflowSettings", "TracingSettings", "load_mlflow_settings"]

_PLACEHOLDERS = {"benchmark"}


class ExperimentNames(BaseModel):
    """Experiment name per command; `{benchmark}` is the only placeholder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ask: str = "orch-ask"
    run: str = "orch-{benchmark}"
    eval: str = "orch-eval-{benchmark}"
    serve: str = "orch-serve"
    """`orch serve`: one run per answered request."""

    @field_validator("ask", "run", "eval", "serve")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"bad template {value!r}: {exc}") from exc
        if names - _PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {sorted(names - _PLACEHOLDERS)} in {value!r}; use {{benchmark}}")
        return value


class TracingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    """Fraction of items traced, chosen by a hash of the item id (the same items every time)."""

    def traces(self, item_id: str) -> bool:
        """Whether the item with this id is traced."""
        if not self.enabled or self.sample_rate <= 0:
            return False
        if self.sample_rate >= 1:
            return True
        return int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < self.sample_rate


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
