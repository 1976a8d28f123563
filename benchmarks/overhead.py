"""What orch costs on top of the endpoint: orch's graph against a bare asyncio aiohttp client making
the same calls, in the same run, against the same fixed-latency loopback endpoint.

The endpoint (`orch.testing.endpoint`, its own process) answers analysts in 300, 400 and 500 ms and
the merger in 300 ms, so one item's critical path is 0.8 s. Each measurement runs in a fresh process
(its own MLflow store and state folder). The table's item phase runs from the first call to the last
result: its wall time over the ideal (ceil(items / in flight) × 0.8 s), CPU per item (the whole
process's, MLflow's writer threads included) and items per second; then the seconds from launching
the process to its first call, and from the last result to the run being logged (traces included).
The last line's throughput runs from the first call to the run being logged: a run that is still
writing its traces is not finished.

    uv run python benchmarks/overhead.py            # 1, 8 and 64 in flight (20, 100, 1,000 items)
    uv run python benchmarks/overhead.py --quick    # 1 and 8 in flight, 64 on 200 items
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orch.testing.endpoint import EndpointConfig, RunningEndpoint, serve_endpoint

ANALYSTS = {"analyst-300": 300.0, "analyst-400": 400.0, "analyst-500": 500.0}
MERGER = {"merger-300": 300.0}
CRITICAL_PATH_S = (max(ANALYSTS.values()) + max(MERGER.values())) / 1000
SYSTEMS = ("bare aiohttp", "orch, tracing off", "orch, tracing on")


def items(n: int) -> list[dict]:
    """Synthetic four-option questions of an MMLU item's size."""
    stem = "Which of the following best describes the role of the structure named in the passage"
    return [
        {
            "id": f"bench/{i:05d}",
            "question": f"{stem} (case {i})? " + "Context sentence about the topic. " * 6,
            "options": [f"Option {c} for case {i}, a plausible statement" for c in "ABCD"],
            "answer": "ABCD"[i % 4],
        }
        for i in range(n)
    ]


# -- workers (each in a process of its own) ---------------------------------------------------
def _bare_body(model: str, item: dict, analyses: list[str] | None) -> dict:
    options = "\n".join(f"{c}. {o}" for c, o in zip("ABCD", item["options"], strict=True))
    user = f"Question: {item['question']}\n{options}"
    if analyses:
        user += "\n\nAnalyses:\n" + "\n\n".join(analyses)
    answer = {"type": "string", "enum": list("ABCD")}
    schema = {"type": "object", "properties": {"answer": answer}, "required": ["answer"]}
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You analyse multiple-choice questions."},
            {"role": "user", "content": user},
        ],
        "temperature": 0,
        "seed": 1234,
        "max_tokens": 300,
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
    }


async def _bare(base_url: str, questions: list[dict], in_flight: int) -> None:
    import aiohttp

    url = base_url + "/chat/completions"
    limit = asyncio.Semaphore(in_flight)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(body: dict) -> str:
            async with session.post(url, json=body) as reply:
                return (await reply.json())["choices"][0]["message"]["content"]

        async def one(item: dict) -> None:
            async with limit:
                analyses = await asyncio.gather(*(call(_bare_body(m, item, None)) for m in ANALYSTS))
                await call(_bare_body(next(iter(MERGER)), item, list(analyses)))

        await asyncio.gather(*(one(item) for item in questions))


def _orch_setup(folder: Path, base_url: str, tracing: bool) -> Path:
    agents = "\n".join(
        f"  - {{id: {m}, model: {m}, base_url: '{base_url}', max_retries: 2}}" for m in [*ANALYSTS, *MERGER]
    )
    pool = folder / "pool.yaml"
    pool.write_text(
        f"agents:\n{agents}\npanel: [{', '.join(ANALYSTS)}]\nroles: {{merger: {next(iter(MERGER))}}}\n"
        "remote_concurrency: 1024\n"
    )
    (folder / "mlflow.yaml").write_text(f"tracing: {{enabled: {str(tracing).lower()}}}\nstrict: false\n")
    os.environ.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
        ORCH_MLFLOW_CONFIG=str(folder / "mlflow.yaml"),
        ORCH_STATE_DIR=str(folder / ".orch"),
    )
    return pool


def worker(system: str, base_url: str, n_items: int, in_flight: int) -> dict:
    """One measurement: the item phase (from the agents starting to the last result: wall and CPU
    time) and the whole run's end (results, tables and traces written) as wall-clock times."""
    questions = items(n_items)
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        marks: dict[str, float] = {}
        if system == "bare aiohttp":
            marks.update(start=time.time(), cpu_start=time.process_time())
            asyncio.run(_bare(base_url, questions, in_flight))
            marks.update(last=time.time(), cpu_last=time.process_time(), end=time.time(), failed=0, traces_lost="–")
            return marks
        pool = _orch_setup(Path(tmp), base_url, tracing=system.endswith("on"))
        import orch

        def last_result(_: object) -> None:
            marks.update(last=time.time(), cpu_last=time.process_time())

        batch = [orch.make_item(q["question"], q["options"], q["answer"]) for q in questions]
        outcome = orch.run(
            batch,
            graph="orch",
            pool=pool,
            concurrency=in_flight,
            benchmark="overhead",
            on_start=lambda _: marks.update(start=time.time(), cpu_start=time.process_time()),
            on_result=last_result,
        )
        end = time.time()
        from mlflow import MlflowClient

        metrics = MlflowClient().get_run(outcome.run_id).data.metrics
        lost = int(metrics["traces_missing"]) if "traces_missing" in metrics else "–"
        return {**marks, "end": end, "failed": outcome.summary.failed, "traces_lost": lost}


# -- the driver ---------------------------------------------------------------------------------
def measure(endpoint: RunningEndpoint, system: str, n_items: int, in_flight: int) -> dict:
    """Run one worker process; its first call's time is read from the endpoint's stats."""
    endpoint.reset_stats()
    launched = time.time()
    command = [sys.executable, __file__, "--worker", system, endpoint.base_url, str(n_items), str(in_flight)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{system} failed:\n{done.stderr[-3000:]}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    stats = endpoint.stats()
    first_call = stats.get("first_request_at", marks["start"])
    return {
        **marks,
        "requests": int(stats.get("requests", 0)),
        "items_wall_s": marks["last"] - first_call,
        "items_cpu_s": marks["cpu_last"] - marks["cpu_start"],
        "to_first_call_s": first_call - launched,
        "wrap_up_s": marks["end"] - marks["last"],
    }


HEADER = (
    "| in flight / items | system | wall ÷ ideal | CPU ms/item | items/s "
    "| to first call s | wrap-up s | requests | failed | traces lost |"
)


def row(system: str, n_items: int, in_flight: int, m: dict) -> str:
    ideal = math.ceil(n_items / in_flight) * CRITICAL_PATH_S
    cpu_ms = m["items_cpu_s"] * 1000 / n_items
    return (
        f"| {in_flight} / {n_items:,} | {system} | {m['items_wall_s'] / ideal:.2f} | {cpu_ms:.1f} | "
        f"{n_items / m['items_wall_s']:.1f} | {m['to_first_call_s']:.1f} | {m['wrap_up_s']:.1f} | "
        f"{m['requests']:,} | {m['failed']} | {m['traces_lost']} |"
    )


def cached_rerun(endpoint: RunningEndpoint, n_items: int = 500) -> str:
    """`orch eval` of `n_items` twice in one folder: the second run answers from the stores."""
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        folder = Path(tmp)
        pool = _orch_setup(folder, endpoint.base_url, tracing=True)
        quiz = folder / "quiz.jsonl"
        quiz.write_text(
            "".join(json.dumps({k: q[k] for k in ("question", "options", "answer")}) + "\n" for q in items(n_items))
        )
        command = [sys.executable, "-m", "orch", "eval", "-b", str(quiz), "-s", "all", "--systems", "orch"]
        command += ["--config", str(pool), "--concurrency", "64"]
        times, requests = [], []
        for _ in range(2):
            endpoint.reset_stats()
            started = time.perf_counter()
            subprocess.run(command, cwd=folder, capture_output=True, check=True, env={**os.environ})
            times.append(time.perf_counter() - started)
            requests.append(int(endpoint.stats().get("requests", 0)))
    return (
        f"orch eval of {n_items} items: first run {times[0]:.1f} s ({requests[0]:,} requests), "
        f"the same command again {times[1]:.1f} s ({requests[1]} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 in flight on 200 items instead of 1,000")
    parser.add_argument("--worker", nargs=4, metavar=("SYSTEM", "URL", "ITEMS", "IN_FLIGHT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        system, url, n, k = args.worker
        print(json.dumps(worker(system, url, int(n), int(k))))
        return
    shapes = [(1, 20), (8, 100), (64, 200 if args.quick else 1000)]
    config = EndpointConfig(latency_ms={**ANALYSTS, **MERGER})
    throughput: dict[str, float] = {}
    print(f"critical path {CRITICAL_PATH_S:.1f} s per item; ideal = ceil(items ÷ in flight) × path")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    with serve_endpoint(config) as endpoint:
        for in_flight, n_items in shapes:
            for system in SYSTEMS:
                m = measure(endpoint, system, n_items, in_flight)
                print(row(system, n_items, in_flight, m), flush=True)
                if in_flight == 64:
                    throughput[system] = n_items / (m["items_wall_s"] + m["wrap_up_s"])
        print(cached_rerun(endpoint))
    bare = throughput["bare aiohttp"]
    print(
        f"throughput orch/bare at 64 in flight: tracing off {throughput['orch, tracing off'] / bare:.2f}, "
        f"tracing on {throughput['orch, tracing on'] / bare:.2f}"
    )


if __name__ == "__main__":
    main()
