"""Throughput of one evaluation answered by one process, by one Dask worker and by two.

Each set-up runs the same `orch eval` command (a fresh PostgreSQL database for the result store,
call cache and router store, so every call is really made; tracking on one `mlflow server` whose
backend store is the same PostgreSQL) against the loopback test endpoint, whose fixed latency per
call stands in for a model: with the model's time injected, what scales is what orch does around
the calls, and 2 cores can show it. Prints a table and the machine's load before and after (other
work on the machine slows every set-up alike, and the figures with it).

    uv run python benchmarks/distributed.py                      # 200 items of orch, 300 ms per call
    uv run python benchmarks/distributed.py --items 100 --latency-ms 500 --systems vote
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parents[1]))  # the test helpers start PostgreSQL and MLflow

from orch.testing.endpoint import EndpointConfig, serve_endpoint
from tests.mlflow_server import mlflow_server
from tests.postgres import postgres_server

AGENTS = ("a", "b", "c")
SETUPS = {"one process": [], "--workers 1": ["--workers", "1"], "--workers 2": ["--workers", "2"]}


def write_folder(root: Path, base_url: str, items: int) -> None:
    rows = [
        {"question": f"Question {i}: which holds?", "options": ["w", "x", "y", "z"], "answer": "ABCD"[i % 4]}
        for i in range(items)
    ]
    (root / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    agents = "".join(f"  - {{id: {a}, model: m-{a}, base_url: '{base_url}'}}\n" for a in AGENTS)
    (root / "pool.yaml").write_text(f"agents:\n{agents}roles: {{merger: a}}\nremote_concurrency: 32\n")
    (root / "mlflow.yaml").write_text("strict: false\n")


def run_setup(root: Path, database: str, tracking_uri: str, args: list[str], options: argparse.Namespace) -> float:
    """Wall seconds of one `orch eval`, from the command to its exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "MLFLOW_"))}
    env.update(
        ORCH_EVAL_STORE=database,
        ORCH_CALL_CACHE=database,
        ORCH_ROUTER_STORE=database,
        ORCH_STATE_DIR=str(root / "state"),
        ORCH_MLFLOW_CONFIG=str(root / "mlflow.yaml"),
        MLFLOW_TRACKING_URI=tracking_uri,
    )
    command = [sys.executable, "-m", "orch", "eval", "-b", "quiz.jsonl", "-s", "all", "--systems", options.systems]
    command += ["--config", "pool.yaml", "--concurrency", str(options.concurrency), *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args) or 'one process'} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--systems", default="orch")
    parser.add_argument("--concurrency", type=int, default=4, help="items in flight per process / worker")
    options = parser.parse_args()
    load_before = os.getloadavg()
    config = EndpointConfig(latency_ms={f"m-{a}": options.latency_ms for a in AGENTS})
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="orch-dist-bench-") as tmp,
        postgres_server() as postgres,
        serve_endpoint(config) as endpoint,
    ):
        root = Path(tmp)
        server = postgres.rsplit("/", 1)[0]
        with psycopg.connect(postgres, autocommit=True) as admin:
            for name in ["mlflow", *(f"bench{n}" for n in range(len(SETUPS)))]:
                admin.execute(f"CREATE DATABASE {name}")
        write_folder(root, endpoint.base_url, options.items)
        backend = server.replace("postgresql://", "postgresql+psycopg://") + "/mlflow"
        with mlflow_server(backend, root / "mlflow-server", workers=2) as tracking_uri:
            for n, (name, args) in enumerate(SETUPS.items()):
                endpoint.reset_stats()
                seconds = run_setup(root, f"{server}/bench{n}", tracking_uri, args, options)
                rows.append((name, seconds, int(endpoint.stats().get("requests", 0))))
    base = rows[1][1]
    print(f"\n{options.items} items of {options.systems}, {options.latency_ms:g} ms per call, "
          f"--concurrency {options.concurrency} per process; 2 cores, load average before "
          f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print("| set-up | wall s | calls | items/s | vs --workers 1 |\n|---|---:|---:|---:|---:|")
    for name, seconds, calls in rows:
        print(f"| {name} | {seconds:.1f} | {calls} | {options.items / seconds:.2f} | {base / seconds:.2f}× |")


if __name__ == "__main__":
    main()
