"""A real `mlflow server` for tests, on loopback, with a database backend store (the test
PostgreSQL or a SQLite file) and artifacts proxied into a temporary folder.

Its start-up (migrations, uvicorn) takes 10–30 s on 2 busy cores, so tests share one per module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.postgres import _free_port

_START_TIMEOUT_S = 180.0


def _healthy(url: str) -> bool:
    with suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
        return reply.status == 200
    return False


@contextmanager
def mlflow_server(backend_store_uri: str, root: Path, *, workers: int = 1) -> Iterator[str]:
    """Yields the server's `http://127.0.0.1:PORT`; stops the server (and its workers) afterwards.

    A PostgreSQL backend is given as `postgresql+psycopg://…`: SQLAlchemy's default PostgreSQL
    driver is psycopg2, which the lock does not hold."""
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri]
    command += ["--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"mlflow server did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
