"""Process-wide settings from `ORCH_*` environment variables, declared once and typed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orch.errors import ConfigError
from orch.store_urls import check_store_url, sqlite_url

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

    eval_store: str | None = None
    """Where evaluations keep their finished item results: `sqlite:///path` (default
    `<state_dir>/evals.sqlite`) or `postgresql://…`, shared by the workers of a distributed evaluation."""

    call_cache: str | None = None
    """Where the content-addressed call cache lives: `sqlite:///path` (default
    `<state_dir>/calls.sqlite`) or `postgresql://…`, shared by the workers of a distributed evaluation."""

    mlflow_config: Path = Path("mlflow.yaml")
    """MLflow settings file; a missing file means MLflow's own defaults."""

    @field_validator("state_dir")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        """Fail here, before any run is opened, rather than when the first result is stored."""
        for path in (value, *value.parents):
            if path.exists():
                if not path.is_dir():
                    raise ValueError(
                        f"{str(path)!r} is a file, not a folder; point it at a folder (created if missing)"
                    )
                break
        return value

    @field_validator("eval_store", "call_cache")
    @classmethod
    def _a_store(cls, value: str | None) -> str | None:
        """A misspelt scheme fails here, before anything is opened, not at the first result."""
        if value is not None and (problem := check_store_url(value)):
            raise ValueError(problem)
        return value

    @property
    def eval_store_url(self) -> str:
        return self.eval_store or sqlite_url(self.state_dir / "evals.sqlite")

    @property
    def call_cache_url(self) -> str:
        return self.call_cache or sqlite_url(self.state_dir / "calls.sqlite")

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.home / "models"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


def get_settings() -> OrchSettings:
    """Read the settings afresh, so a test's environment override takes effect.

    Raises:
        ConfigError: an `ORCH_*` variable holds a bad value (names the variable).
    """
    try:
        return OrchSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ORCH_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigError("environment", name, first["msg"].removeprefix("Value error, ")) from exc
