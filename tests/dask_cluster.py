"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes on loopback, started
with the CLIs a cluster uses. Workers get an environment without orch's or MLflow's variables and a
folder of their own, as on another machine: what they need must come with the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.postgres import _free_port


@dataclass
class DaskCluster:
    address: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kill_worker(self, index: int) -> None:
        """SIGKILL, as a machine that dies: no goodbye to the scheduler, batches left half done."""
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait(timeout=30)


def _cli(name: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dask")), name]


@contextmanager
def dask_cluster(root: Path, workers: int) -> Iterator[DaskCluster]:
    """A scheduler and `workers` single-threaded workers without nannies (a killed worker stays dead)."""
    from distributed import Client

    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MLFLOW_"))}
    processes: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(command: list[str], name: str) -> subprocess.Popen[bytes]:
        folder = root / name
        folder.mkdir(exist_ok=True)
        log = (folder / "log").open("wb")
        logs.append(log)
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        start([*_cli("scheduler"), "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], "scheduler")
        cluster = DaskCluster(address)
        for n in range(workers):
            command = [*_cli("worker"), address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
            command += ["--name", f"w{n}", "--host", "127.0.0.1", "--death-timeout", "60"]
            cluster.workers.append(start(command, f"w{n}"))
        with Client(address, timeout=120, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=180)
        yield cluster
    finally:
        for process in reversed(processes):
            with suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
