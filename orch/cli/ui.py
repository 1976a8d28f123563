"""`orch ui`: the MLflow UI on 127.0.0.1, against the store orch logs to."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from orch.cli.render import console

__all__ = ["ui"]


def ui(port: Annotated[int, typer.Option("--port", "-p")] = 5000) -> None:
    """Open the MLflow UI on http://127.0.0.1:PORT for the configured tracking store."""
    from orch.tracking import Tracker

    uri = Tracker().tracking_uri
    console.print(f"MLflow UI for {uri} at http://127.0.0.1:{port} (Ctrl-C to stop)")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # Become the MLflow server: Ctrl-C and kill then reach it (and its workers) directly, and no
    # server is left running behind an exited `orch`.
    os.execvpe(command[0], command, env)
