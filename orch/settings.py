"""Process-wide settings from `ORCH_*` environment variables, declared once and typed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["OrchSettings", "get_settings"]


class OrchSettings(BaseSettings):
    """Where orch keeps and finds things. Every field is overridable as `ORCH_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="forbid")

    home: Path = Field(default_factory=lambda: Path.home() / ".cache" / "orch")
    """Cache root: assembled GGUF models, llama.cpp server logs."""

    models_dir: Path | None = None
    """Where `orch models pull` puts GGUF files; defaults to `<home>/models`."""

    config: Path | None = None
    """Pool config (agents, panel, roles); defaults to the embedded local pool."""

    data_dir: Path = Path("../shared/data")
    """Benchmark files no package ships (MMLU-Pro, GSM8K), relative to the working directory."""

    state_dir: Path = Path(".orch")
    """Evaluation state beside `mlflow.db`: finished item results (`evals.sqlite`) and the
    content-addressed call cache (`calls.sqlite`). Delete it to start over."""

    router_store: str | None = None
    """Where router states live: `sqlite:///path` (default `<state_dir>/router.sqlite`) or
    `postgresql://…` for routers shared by several processes or machines."""

    mlflow_config: Path = Path("mlflow.yaml")
    """MLflow settings file; a missing file means MLflow's own defaults."""

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def get_settings() -> OrchSettings:
    """Read the settings afresh, so a test's environment override takes effect."""
    return OrchSettings()
