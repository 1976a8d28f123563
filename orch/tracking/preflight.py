"""Where MLflow will write, checked before anything starts (and without importing MLflow).

MLflow finds out late and loudly: an unknown URI scheme or an unwritable SQLite path is a
traceback after the run's models have started, and an MLflow server that is down costs minutes of
retries. These checks take milliseconds, so a bad tracking URI is one line naming where it was set.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from orch.errors import ConfigError
from orch.mlflow_config import MlflowSettings
from orch.settings import get_settings

__all__ = ["check_tracking_store", "tracking_uri_source"]

_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks", "databricks-uc", "uc")
_HEALTH_TIMEOUT_S = 5.0


def tracking_uri_source(settings: MlflowSettings) -> tuple[str, str, str | None]:
    """(where it was set, the field, the URI): `MLFLOW_TRACKING_URI` wins over mlflow.yaml; None
    means MLflow's default (`sqlite:///mlflow.db` in the working folder)."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return "environment", "MLFLOW_TRACKING_URI", uri
    return str(get_settings().mlflow_config), "tracking_uri", settings.tracking_uri


def check_tracking_store(settings: MlflowSettings) -> None:
    """Raise `ConfigError` when the tracking store cannot be used: an unknown scheme, a SQLite file
    that cannot be created or written, or an MLflow server that does not answer `/health`."""
    file, field, uri = tracking_uri_source(settings)
    uri = uri or "sqlite:///mlflow.db"
    scheme = urlparse(uri).scheme.split("+")[0]  # postgresql+psycopg2, mysql+pymysql
    if len(scheme) == 1:  # a Windows drive letter: a path
        scheme = ""
    if scheme and scheme not in _SCHEMES:
        raise ConfigError(file, field, f"{uri!r}: unknown scheme {scheme!r} (MLflow takes {', '.join(_SCHEMES[:7])})")
    problem = None
    if scheme == "sqlite":
        problem = _sqlite_problem(uri)
    elif scheme in ("http", "https"):
        problem = _server_problem(uri)
    if problem:
        raise ConfigError(file, field, f"{uri!r}: {problem}")


def _sqlite_problem(uri: str) -> str | None:
    raw = unquote(uri.removeprefix("sqlite://").split("?")[0])  # sqlite:///relative, sqlite:////absolute
    if raw in ("", "/", "/:memory:"):
        return None
    path = Path(raw[1:])
    if path.is_dir():
        return "is a folder, not a database file"
    if path.exists():
        return None if os.access(path, os.R_OK | os.W_OK) else "the database file is not writable"
    folder = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:  # a real probe: permission bits say nothing for root, or on /proc
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"cannot create the database in {folder} ({exc.strerror or exc})"
    return None


def _server_problem(uri: str) -> str | None:
    request = urllib.request.Request(uri.rstrip("/") + "/health", method="GET")
    try:
        with urllib.request.urlopen(request, timeout=_HEALTH_TIMEOUT_S) as reply:
            status = reply.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"the MLflow server is unreachable ({type(reason).__name__}: {reason})"
    return None if status == 200 else f"the MLflow server answers HTTP {status} on /health"
