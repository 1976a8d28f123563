"""Budgets of cost and wall time, per run and per item, against the shipped loopback endpoint.

Every call there costs exactly $1 (40 completion tokens at $25,000 per million), so cost budgets
are counted in calls; calls are counted at the endpoint. A run a budget stops ends with one line,
exit code 3 and KILLED MLflow runs tagged `orch.stopped=budget`; the same evaluation run again
continues without calling finished items again. An item past its time is a failed item (retried
next run), and an item past its cost gets no further call.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from mlflow import MlflowClient

from orch.backends.pool import AgentPool
from orch.config import PoolConfig
from orch.errors import ConfigError
from orch.eval.evaluate import EvalRequest, evaluate
from orch.eval.store import ResultStore
from orch.nodes.base import CallLog
from orch.nodes.budgets import BudgetExceeded, Budgets, ItemSpend, RunBudget, spending
from orch.records import Completion
from orch.settings import get_settings
from orch.testing import ScriptedChatModel
from orch.testing.endpoint import EndpointConfig, RunningEndpoint, serve_endpoint

LATENCY_MS = {"m-fast": 20, "m-fast2": 20, "m-merge": 20, "m-slow": 300, "m-hang": 2000}
PRICED = "price_output_per_mtok: 25000, max_retries: 0, timeout_s: 30"
"""$1 per call: the endpoint reports 40 completion tokens for every reply."""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[RunningEndpoint]:
    with serve_endpoint(EndpointConfig(latency_ms=LATENCY_MS)) as running:
        yield running


@pytest.fixture
def served(endpoint: RunningEndpoint) -> RunningEndpoint:
    endpoint.reset_stats()
    return endpoint


def pool_file(folder: Path, endpoint: RunningEndpoint, *agents: tuple[str, str], extra: str = "") -> Path:
    lines = [f"  - {{id: {a}, model: {m}, base_url: '{endpoint.base_url}', {PRICED}}}\n" for a, m in agents]
    path = folder / "pool.yaml"
    path.write_text("agents:\n" + "".join(lines) + "remote_concurrency: 8\n" + extra)
    return path


def quiz(folder: Path, n: int) -> Path:
    path = folder / "quiz.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"Q{i}?", "options": ["x", "y"], "answer": "A"}) + "\n" for i in range(n))
    )
    return path


def requests(endpoint: RunningEndpoint, model: str | None = None) -> int:
    stats = endpoint.stats()
    return int(stats.get(f"model:{model}", 0) if model else stats.get("requests", 0))


def run_statuses(store: str) -> dict[str, tuple[str, str | None]]:
    """Run name → (status, orch.stopped tag) of every evaluation run in the store."""
    client = MlflowClient(tracking_uri=store)
    experiments = [e.experiment_id for e in client.search_experiments() if e.name.startswith("orch-eval-")]
    runs = client.search_runs(experiments) if experiments else []
    return {r.info.run_name: (r.info.status, r.data.tags.get("orch.stopped")) for r in runs}


# -- the values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_cost", 0, "max_cost: must be a positive, finite number, got 0"),
        ("max_time", -5, "max_time: must be a positive, finite number, got -5"),
        ("item_max_cost", float("nan"), "item_max_cost: must be a positive, finite number, got nan"),
        ("item_max_time", float("inf"), "item_max_time: must be a positive, finite number, got inf"),
        ("max_cost", "1", "max_cost: must be a number, got '1'"),
        ("max_time", True, "max_time: must be a number, got True"),
    ],
)
def test_a_budget_must_be_a_positive_number(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Budgets(**{field: value})  # type: ignore[arg-type]
    assert str(raised.value).startswith(message), raised.value


def test_bad_budgets_are_refused_by_the_api_before_anything_opens(tmp_path: Path) -> None:
    import orch

    closed = PoolConfig.model_validate({"agents": [{"id": "a", "model": "m", "base_url": "http://127.0.0.1:9/v1"}]})
    with pytest.raises(ConfigError, match=r"^max_cost: must be a positive"):
        orch.run([orch.make_item("Q?", ["x", "y"])], graph="single", pool=closed, max_cost=0)
    with pytest.raises(ConfigError, match=r"^item_max_time: must be a positive"):
        evaluate(
            EvalRequest(benchmark=str(quiz(tmp_path, 2)), sample="all", systems="single:a", item_max_time=-1),
            pool=closed,
        )
    assert not (get_settings().state_dir / "evals.sqlite").exists()


NO_LIMIT = "; leave it out for no limit"
BAD_FLAGS = [
    (("eval", "--max-cost", "-1"), "orch: error: --max-cost: must be a positive, finite number, got -1" + NO_LIMIT),
    (("eval", "--max-time", "0"), "orch: error: --max-time: must be a positive, finite number, got 0" + NO_LIMIT),
    (
        ("eval", "--item-max-cost", "nan"),
        "orch: error: --item-max-cost: must be a positive, finite number, got nan" + NO_LIMIT,
    ),
    (("eval", "--item-max-time", "soon"), "orch: error: --item-max-time: must be a number, got 'soon'"),
    (("run", "--max-cost", "0.0"), "orch: error: --max-cost: must be a positive, finite number, got 0.0" + NO_LIMIT),
]


def test_bad_budget_flags_are_one_line_exit_2_and_nothing_is_opened(tmp_path: Path) -> None:
    def attempt(index: int, flags: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        folder = tmp_path / str(index)
        folder.mkdir()
        (folder / "pool.yaml").write_text("agents: [{id: a, model: m, base_url: 'http://127.0.0.1:9/v1'}]\n")
        quiz(folder, 2)
        command, *budget = flags
        args = ["-b", "quiz.jsonl", "-s", "all", "--systems", "single:a"] if command == "eval" else ["--limit", "1"]
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "ORCH_STATE_DIR": "state"}
        return subprocess.run(
            [sys.executable, "-m", "orch", command, *args, "--config", "pool.yaml", *budget],
            capture_output=True,
            text=True,
            cwd=folder,
            env=env,
            timeout=180,
        )

    with ThreadPoolExecutor(max_workers=len(BAD_FLAGS)) as workers:
        done = list(workers.map(attempt, range(len(BAD_FLAGS)), [flags for flags, _ in BAD_FLAGS]))
    for index, ((flags, message), outcome) in enumerate(zip(BAD_FLAGS, done, strict=True)):
        assert outcome.returncode == 2, (flags, outcome.stderr)
        assert outcome.stderr.strip() == message, (flags, outcome.stderr)
        assert not (tmp_path / str(index) / "mlflow.db").exists() and not (tmp_path / str(index) / "state").exists()


# -- the meters, unit by unit -----------------------------------------------------------------------
def test_a_run_budget_admits_items_until_it_is_reached_and_then_none() -> None:
    budget = RunBudget(Budgets(max_cost=2.0))
    assert budget.admit() and budget.stop() is None
    budget.charge(Completion(text="", cost=1.5))
    budget.charge(Completion(text="", cost=5.0, cached=True))  # a cache hit spends nothing
    assert budget.admit()
    budget.charge(Completion(text="", cost=0.5))
    assert budget.stop() is None  # reached, but nothing was refused: the run was complete
    assert not budget.admit() and not budget.admit()
    stop = budget.stop()
    assert stop is not None and (stop.reason, stop.not_started) == ("cost $2.00 of $2.00", 2)
    assert (
        stop.line()
        == "budget reached: cost $2.00 of $2.00; 2 items not started — run the same command again to continue"
    )
    timed = RunBudget(Budgets(max_time=0.05))
    assert timed.admit()
    time.sleep(0.06)
    assert not timed.admit() and timed.reached() == "time"


def test_call_log_refuses_a_call_once_the_items_cost_budget_is_spent() -> None:
    config = PoolConfig.model_validate(
        {"agents": [{"id": "a", "model": "m", "base_url": "http://127.0.0.1:9/v1", "price_output_per_mtok": 1e6}]}
    )
    model = ScriptedChatModel(script="12345678")  # 2 output tokens: $2 a call
    pool = AgentPool.from_chat_models(config, {"a": model})

    async def two_calls() -> ItemSpend:
        calls = CallLog(pool.client("a"))
        with spending(ItemSpend(limit=1.0)) as spend:
            await calls.complete([HumanMessage("first")])
            with pytest.raises(
                BudgetExceeded, match=r"^cost budget: the item's calls cost \$2.00 of \$1.00; call not made"
            ):
                await calls.complete([HumanMessage("second")])
        return spend

    spend = asyncio.run(two_calls())
    assert len(model.calls) == 1 and spend.cost == 2.0 and len(spend.completions) == 1


# -- over HTTP ----------------------------------------------------------------------------------------
def test_cost_budget_stops_the_evaluation_and_the_same_command_continues(
    tmp_path: Path, served: RunningEndpoint
) -> None:
    pool_file(tmp_path, served, ("a", "m-fast"))
    quiz(tmp_path, 6)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "ORCH_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"}
    env.pop("ORCH_MLFLOW_CONFIG", None)
    command = [sys.executable, "-m", "orch", "eval", "-b", "quiz.jsonl", "-s", "all", "--systems", "single:a"]
    command += ["--config", "pool.yaml", "--max-cost", "2.5"]

    first = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 3, first.stderr[-3000:]
    assert first.stdout.strip().splitlines()[-1] == (
        "budget reached: cost $3.00 of $2.50; 3 items not started — run the same command again to continue"
    )
    assert requests(served) == 3  # items start one at a time: the third reached the budget
    assert set(run_statuses(store).values()) == {("KILLED", "budget")}
    assert len(run_statuses(store)) == 2  # the evaluation and its one system
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments() if e.name.startswith("orch-eval-")])
    [parent] = [r for r in runs if "n_items" in r.data.params]
    assert parent.data.params["budget.max_cost"] == "2.5" and parent.data.tags["orch.status"] == "incomplete"

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert requests(served) == 6  # the three left, and no finished item called again
    assert set(run_statuses(store).values()) == {("FINISHED", "no")}  # the same runs, now complete


def test_wall_time_budget_starts_no_new_item_and_lets_those_in_flight_finish(
    tmp_path: Path, served: RunningEndpoint
) -> None:
    pool = pool_file(tmp_path, served, ("s", "m-slow"))
    req = EvalRequest(benchmark=str(quiz(tmp_path, 20)), sample="all", systems="single:s", concurrency=2, max_time=1.0)
    first = evaluate(req, pool=pool)
    assert first.stopped is not None and first.stopped.reason.startswith("time ")
    started = requests(served)
    assert 0 < started < 20 and first.stopped.not_started == 20 - started
    assert first.failed_items == 0  # in flight when the time ran out, and finished all the same
    client = MlflowClient()
    for run_id in (first.record.parent_run_id, first.record.system_run_ids["single:s"]):
        run = client.get_run(run_id)
        assert (run.info.status, run.data.tags["orch.stopped"]) == ("KILLED", "budget")

    rest = evaluate(req.model_copy(update={"max_time": None}), pool=pool)
    assert rest.stopped is None and rest.report.n_items == 20
    assert requests(served) == 20  # only the items the budget left unstarted
    assert client.get_run(rest.record.parent_run_id).info.status == "FINISHED"


def test_an_item_past_its_time_is_a_failed_item_and_the_next_run_retries_it(
    tmp_path: Path, served: RunningEndpoint
) -> None:
    pool = pool_file(tmp_path, served, ("h", "m-hang"))
    req = EvalRequest(
        benchmark=str(quiz(tmp_path, 2)), sample="all", systems="single:h", concurrency=2, item_max_time=0.3
    )
    began = time.monotonic()
    first = evaluate(req, pool=pool)
    assert time.monotonic() - began < 30
    assert first.stopped is None and first.failed == {"single:h": 2} and first.report.n_items == 0
    assert requests(served, "m-hang") == 2
    store = ResultStore(get_settings().state_dir / "evals.sqlite")
    failures = store._db.execute("SELECT reasons, attempts FROM failures")
    assert len(failures) == 2 and all("time budget: cut off after" in r and a == 1 for r, a in failures), failures
    assert MlflowClient().get_run(first.record.parent_run_id).info.status == "FAILED"  # failed items, not a stop

    second = evaluate(req.model_copy(update={"item_max_time": None}), pool=pool)
    assert requests(served, "m-hang") == 4  # both retried: a call cut off was never cached
    assert second.failed_items == 0 and second.report.n_items == 2
    assert store._db.execute("SELECT COUNT(*) FROM failures")[0][0] == 0


def test_an_item_past_its_cost_gets_no_further_call(tmp_path: Path, served: RunningEndpoint) -> None:
    import orch

    agents = (("a", "m-fast"), ("b", "m-fast2"), ("m", "m-merge"))
    pool = pool_file(tmp_path, served, *agents, extra="panel: [a, b]\nroles: {merger: m}\n")
    items = [orch.make_item(f"Q{i}?", ["x", "y"]) for i in range(2)]
    outcome = orch.run(items, graph="orch-merge", pool=pool, item_max_cost=1.5, concurrency=2)
    assert requests(served, "m-merge") == 0 and requests(served) == 4  # both analysts ran in parallel; no merge
    for result in outcome.results:
        assert result.status == "degraded" and result.decision.method.startswith("merge_fallback")
        assert result.decision.error == "cost budget: the item's calls cost $2.00 of $1.50; call not made"
        assert result.usage.cost == 2.0 and result.answer is not None
    assert outcome.stopped is None
    run = MlflowClient().get_run(outcome.run_id)
    assert run.data.params["budget.item_max_cost"] == "1.5" and run.data.tags["orch.stopped"] == "no"


def test_a_run_stopped_by_its_budget_is_killed_and_says_it_starts_over(tmp_path: Path, served: RunningEndpoint) -> None:
    import orch

    pool = pool_file(tmp_path, served, ("a", "m-fast"))
    items = [orch.make_item(f"Q{i}?", ["x", "y"]) for i in range(5)]
    outcome = orch.run(items, graph="single", pool=pool, max_cost=2)
    assert len(outcome.results) == 2 and requests(served) == 2
    assert outcome.stopped is not None and outcome.stopped.not_started == 3
    assert outcome.stopped.line(resumes=False).endswith(
        "3 items not started — `orch run` starts over; `orch eval` resumes"
    )
    run = MlflowClient().get_run(outcome.run_id)
    assert run.info.status == "KILLED" and run.data.tags["orch.stopped"] == "budget"
    assert run.data.tags["orch.stopped_reason"] == "cost $2.00 of $2.00" and run.data.params["budget.max_cost"] == "2.0"
    assert run.data.metrics["items_not_started"] == 3 and run.data.metrics["budget.cost_spent"] == 2.0
