"""orch under injected faults: an evaluation (orch, vote and a single model) against the loopback
endpoint with a share of attempts failing in every way it knows (500, 429 with Retry-After, hangs
past the timeout, dropped connections, bad JSON, empty content, letters outside the options, no
choices, HTML), then the same command again, then a run killed with SIGKILL and resumed.

It prints, per system, what became of the items and checks what must hold: no failure scored as an
answer, every degraded item labelled, a re-run that calls only for the failed items, and a resumed
run that asks for no call already answered.

    uv run python benchmarks/faults.py               # 300 items, 20% faults
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from orch.records import ItemResult
from orch.testing.endpoint import FAULTS, EndpointConfig, RunningEndpoint, serve_endpoint

AGENTS = {"a": 40.0, "b": 60.0, "c": 80.0}


def folder(root: Path, name: str, items: int) -> tuple[Path, dict[str, str], list[str]]:
    """A working folder with a quiz of four-option items, a pool on the endpoint, and the command."""
    path = root / name
    path.mkdir()
    rows = [
        {
            "question": f"{name} question {i}: which statement holds?",
            "options": ["w", "x", "y", "z"],
            "answer": "ABCD"[i % 4],
        }
        for i in range(items)
    ]
    (path / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "mlflow.yaml").write_text("strict: false\n")
    return path, {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{path / 'mlflow.db'}"}, [
        sys.executable, "-m", "orch", "eval", "-b", "quiz.jsonl", "-s", "all", "--systems", "orch,vote,single",
        "--config", "pool.yaml", "--concurrency", "16", "--max-failed", "1",
    ]  # fmt: skip


def write_pool(path: Path, base_url: str, retries: int = 2) -> None:
    agents = "".join(
        f"  - {{id: {a}, model: {a}, base_url: '{base_url}', timeout_s: 2, max_retries: {retries}}}\n" for a in AGENTS
    )
    (path / "pool.yaml").write_text(f"agents:\n{agents}roles: {{merger: a}}\nremote_concurrency: 64\n")


def outcomes(path: Path) -> dict[str, Counter[str]]:
    """Per system: finished items by status, failed items, and the checks on what was stored."""
    db = sqlite3.connect(path / ".orch" / "evals.sqlite")
    per: dict[str, Counter[str]] = {}
    graph_of: dict[str, str] = {}
    for key, text in db.execute("SELECT system_key, result FROM results"):
        result = ItemResult.model_validate_json(text)
        graph_of[key] = result.graph
        counts = per.setdefault(result.graph, Counter())
        counts[result.status] += 1
        counts["answer outside the options"] += result.answer is not None and result.answer not in result.item.letters
        counts["failure scored as an answer"] += result.status == "failed"
        counts["degraded but not labelled"] += bool(result.failures) and result.status != "degraded"
    for key, _ in db.execute("SELECT system_key, item_id FROM failures"):
        per.setdefault(graph_of.get(key, key[:12]), Counter())["failed"] += 1
    return per


def traces(path: Path) -> dict[str, tuple[int, int]]:
    """Per system run: (traces written, traces missing) as the run logged them."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string="tags.mlflow.parentRunId != ''")
    return {
        r.data.params.get("graph", r.info.run_name): (
            int(r.data.metrics.get("traces_written", 0)),
            int(r.data.metrics.get("traces_missing", 0)),
        )
        for r in runs
    }


def run(command: list[str], cwd: Path, env: dict[str, str], endpoint: RunningEndpoint) -> dict[str, object]:
    endpoint.reset_stats()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    stats = endpoint.stats()
    last = [line for line in done.stdout.splitlines() if line.strip()][-1:] or [""]
    return {"exit": done.returncode, "wall_s": time.perf_counter() - started, "stats": stats, "last": last[0]}


def killed_and_resumed(root: Path, endpoint: RunningEndpoint, items: int) -> dict[str, object]:
    """Kill -9 once about half the calls are made, then the same command: calls repeated (0 wanted)."""
    path, env, command = folder(root, "killed", items)
    write_pool(path, endpoint.base_url)
    endpoint.reset_stats()
    process = subprocess.Popen(command, cwd=path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while endpoint.stats().get("requests", 0) < items * 4 and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = endpoint.stats().get("requests", 0)
    finished = sum(c["ok"] + c["degraded"] for c in outcomes(path).values())
    resumed = run(command, path, env, endpoint)
    return {"requests before the kill": before, "finished before the kill": finished, **resumed}


def without_retries(root: Path, endpoint: RunningEndpoint, items: int) -> dict[str, int]:
    """No retries, so some items fail; the same command again asks only for what failed."""
    path, env, command = folder(root, "unretried", items)
    write_pool(path, endpoint.base_url, retries=0)
    run(command, path, env, endpoint)
    failed = sum(c["failed"] for c in outcomes(path).values())
    again = run(command, path, env, endpoint)
    still = sum(c["failed"] for c in outcomes(path).values())
    stats = again["stats"]
    return {
        "failed": failed,
        "requests": int(stats.get("requests", 0)),
        "repeats": int(stats.get("repeats", 0)),
        "still failed": still,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.2)
    args = parser.parse_args()
    config = EndpointConfig(latency_ms=AGENTS, fault_rate=args.rate, hang_s=4.0, retry_after_s=0.05, seed=7)
    with tempfile.TemporaryDirectory(prefix="orch-faults-") as tmp, serve_endpoint(config) as endpoint:
        path, env, command = folder(Path(tmp), "faults", args.items)
        write_pool(path, endpoint.base_url)
        first = run(command, path, env, endpoint)
        after_first = outcomes(path)
        first["traces"] = traces(path)
        second = run(command, path, env, endpoint)
        killed = killed_and_resumed(Path(tmp), endpoint, args.items)
        unretried = without_retries(Path(tmp), endpoint, args.items)
    report(args, first, after_first, second, killed)
    print(
        f"without retries (max_retries 0): {unretried['failed']} failed item runs; the same command again: "
        f"{unretried['requests']:,} requests ({unretried['repeats']} repeated calls), "
        f"{unretried['still failed']} still failed"
    )


def report(args: argparse.Namespace, first: dict, per: dict[str, Counter[str]], second: dict, killed: dict) -> None:
    faults = {k.removeprefix("fault:"): v for k, v in first["stats"].items() if k.startswith("fault:")}
    print(f"{args.items} items × orch, vote, single; {args.rate:.0%} of attempts faulted ({', '.join(FAULTS)})")
    print(f"first run: exit {first['exit']}, {first['wall_s']:.0f} s, {first['stats']['requests']:,} requests")
    print("  faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    print("| system | ok | degraded | failed | answer outside options | failure scored | degraded unlabelled |")
    print("|---|---|---|---|---|---|---|")
    for graph, c in sorted(per.items()):
        print(
            f"| {graph} | {c['ok']} | {c['degraded']} | {c['failed']} | {c['answer outside the options']} "
            f"| {c['failure scored as an answer']} | {c['degraded but not labelled']} |"
        )
    failed = sum(c["failed"] for c in per.values())
    print(f"  {first['last']}")
    print("  traces written/missing: " + ", ".join(f"{g} {w}/{m}" for g, (w, m) in sorted(first["traces"].items())))
    print(
        f"same command again: exit {second['exit']}, {second['stats'].get('requests', 0):,} requests for "
        f"{failed} failed items, {second['stats'].get('repeats', 0)} repeated calls"
    )
    print(f"  {second['last']}")
    print(
        f"killed with SIGKILL after {killed['requests before the kill']:,} requests "
        f"({killed['finished before the kill']} of {3 * args.items} item runs finished), then resumed: exit "
        f"{killed['exit']}, {killed['stats'].get('requests', 0):,} requests for the other "
        f"{3 * args.items - killed['finished before the kill']}, {killed['stats'].get('repeats', 0)} of them for "
        "calls the endpoint had already answered (in flight at the kill: answered, never received)"
    )


if __name__ == "__main__":
    main()
