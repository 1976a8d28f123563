"""Process-wide settings from `ORCH_*` environment variables, declared once and typed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orch.errors import ConfigError

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
