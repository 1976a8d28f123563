"""One evaluation spread over the workers of a real Dask cluster, with the result store, the call
cache and the router store on a real PostgreSQL and tracking on a real `mlflow server` (its backend
store on the same PostgreSQL), against the loopback test endpoint in a process of its own (a fixed
latency per call). All on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mlflow import MlflowClient

from orch.eval.evaluate import EvalOutcome, EvalRequest, evaluate
from orch.testing.endpoint import EndpointConfig, RunningEndpoint, serve_endpoint
from tests.dask_cluster import dask_cluster
from tests.mlflow_server import mlflow_server
from tests.postgres import postgres_server

ITEMS = 200
MODELS = ("m-a", "m-b", "m-c")
_databases = itertools.count()


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """The server's URL without a database name."""
    with postgres_server() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE mlflow")
        yield url.rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def tracking_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = postgres.replace("postgresql://", "postgresql+psycopg://") + "/mlflow"
    with mlflow_server(backend, tmp_path_factory.mktemp("mlflow-server"), workers=2) as url:
        yield url


@pytest.fixture
def endpoint() -> Iterator[RunningEndpoint]:
    """Its own per test: it counts a call asked again after an answer (`repeats`) across resets."""
    with serve_endpoint(EndpointConfig(latency_ms=dict.fromkeys(MODELS, 150.0))) as running:
        yield running


def fresh_database(postgres: str) -> str:
    name = f"orch{next(_databases)}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return f"{postgres}/{name}"


def use_state(monkeypatch: pytest.MonkeyPatch, database: str, tracking_uri: str) -> None:
    """Every store on `database`, tracking on the server: what a distributed evaluation runs on."""
    for variable in ("ORCH_EVAL_STORE", "ORCH_CALL_CACHE", "ORCH_ROUTER_STORE"):
        monkeypatch.setenv(variable, database)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)


@pytest.fixture
def quiz(tmp_path: Path, endpoint: RunningEndpoint) -> dict[str, Path]:
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "agents:\n"
        + "".join(f"  - {{id: {m[2:]}, model: {m}, base_url: '{endpoint.base_url}'}}\n" for m in MODELS)
        + "roles: {merger: a}\nremote_concurrency: 16\n"
    )
    data = tmp_path / "quiz.jsonl"
    rows = [
        {
            "question": f"Question {i}?",
            "options": ["w", "x", "y", "z"],
            "answer": "ABCD"[i % 4],
            "category": f"c{i % 3}",
        }
        for i in range(ITEMS)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"pool": pool, "data": data}


def request(quiz: dict[str, Path], **fields: Any) -> EvalRequest:
    from orch.eval.datasets import ColumnMapping

    defaults: dict[str, Any] = {"sample": "all", "concurrency": 4, "mapping": ColumnMapping(category="category")}
    return EvalRequest(benchmark=str(quiz["data"]), **{**defaults, **fields})


def timeless(outcome: EvalOutcome) -> dict[str, Any]:
    """The report without model time, which is measured, not computed (everything else must match)."""
    report = outcome.report.model_dump(mode="json")
    for row in report["rows"]:
        del row["latency_p50_s"], row["latency_p95_s"]
    return report


def answers(outcome: EvalOutcome) -> dict[str, list[tuple[str, str | None, object]]]:
    return {
        s.name: [(r.item.id, r.answer, r.routing.model_dump() if r.routing else None) for r in s.results]
        for s in outcome.systems
    }


def stored(database: str) -> list[tuple[str, int]]:
    """(system key, results stored) per system; nothing while the evaluation has not created its tables."""
    with psycopg.connect(database) as db:
        try:
            return db.execute("SELECT system_key, COUNT(*) FROM results GROUP BY system_key ORDER BY 1").fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def test_two_workers_give_the_report_one_process_gives(
    quiz: dict[str, Path], postgres: str, tracking_server: str, endpoint: RunningEndpoint, monkeypatch
) -> None:
    systems = "single:a,single:b,vote"
    use_state(monkeypatch, fresh_database(postgres), tracking_server)
    local = evaluate(request(quiz, systems=systems), pool=quiz["pool"])
    endpoint.reset_stats()

    database = fresh_database(postgres)  # nothing stored, nothing cached: the workers answer it all
    use_state(monkeypatch, database, tracking_server)
    spread = evaluate(request(quiz, systems=systems, workers=2), pool=quiz["pool"])

    assert spread.failed_items == 0 and spread.report.n_items == ITEMS
    assert timeless(spread) == timeless(local) and answers(spread) == answers(local)
    calls = endpoint.stats()
    assert spread.calls_made == calls["requests"] == 3 * ITEMS  # the vote's calls to a and b: cached
    assert [n for _, n in stored(database)] == [ITEMS] * 3
    client = MlflowClient(tracking_server)
    parent = client.get_run(spread.record.parent_run_id)
    assert parent.info.status == "FINISHED"
    for system, run_id in spread.record.system_run_ids.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED", system
        assert (run.data.metrics["traces_written"], run.data.metrics["traces_missing"]) == (ITEMS, 0), system


def test_a_killed_worker_leaves_its_items_to_the_other(
    quiz: dict[str, Path], postgres: str, tracking_server: str, endpoint: RunningEndpoint, monkeypatch, tmp_path
) -> None:
    database = fresh_database(postgres)
    use_state(monkeypatch, database, tracking_server)
    endpoint.reset_stats()
    concurrency = 2
    with dask_cluster(tmp_path / "cluster", workers=2) as cluster:
        killed = threading.Event()

        def kill_midway() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and sum(n for _, n in stored(database)) < ITEMS // 3:
                time.sleep(0.1)
            cluster.kill_worker(0)
            killed.set()

        killer = threading.Thread(target=kill_midway, daemon=True)
        killer.start()
        outcome = evaluate(
            request(quiz, systems="single:a", concurrency=concurrency, scheduler=cluster.address), pool=quiz["pool"]
        )
        killer.join(timeout=60)
    assert killed.is_set() and cluster.workers[0].returncode is not None
    assert outcome.failed_items == 0 and outcome.report.n_items == ITEMS
    assert stored(database)[0][1] == ITEMS  # every item stored once (the store is keyed by item)
    calls = endpoint.stats()
    repeats = calls.get("repeats", 0)
    # Every item was asked; the only calls asked twice are those in flight on the killed worker
    # (it died before their replies reached it), at most its concurrency.
    assert calls["requests"] - repeats == ITEMS and repeats <= concurrency, calls
    run = MlflowClient(tracking_server).get_run(outcome.record.system_run_ids["single:a"])
    assert run.info.status == "FINISHED" and run.data.metrics["traces_missing"] == 0


def test_a_routed_system_stays_prequential_on_workers(
    quiz: dict[str, Path], postgres: str, tracking_server: str, endpoint: RunningEndpoint, monkeypatch
) -> None:
    """orch-ema routes item i on the feedback of the items before it: one worker answers its items
    in sample order, so each stored routing is what the router folds from the stored feedback of the
    items before it (measured latency is part of the feedback, so two runs need not route alike)."""
    from orch.config import load_pool_config
    from orch.graphs import load_graph
    from orch.routers.ranking import decide
    from orch.routers.report import stored_observations
    from orch.routers.service import RouterService
    from orch.routers.state import RouterState

    use_state(monkeypatch, fresh_database(postgres), tracking_server)
    spread = evaluate(request(quiz, sample="first:12", systems="orch-ema", workers=2), pool=quiz["pool"])
    [system] = spread.systems
    assert spread.failed_items == 0 and len(system.results) == 12
    pool, _ = load_pool_config(quiz["pool"])
    route = load_graph("orch-ema", pool=pool).route
    assert route is not None
    policy, agents = route.config.policy, route.config.agents or pool.agent_ids
    folded = RouterService(policy, agents, RouterState.fresh(policy))
    folded.set_order([r.item.id for r in system.results])
    for result in system.results:
        folded.report(result.item.id, stored_observations(result))
    for index, result in enumerate(system.results):
        assert result.routing is not None
        expected = decide(
            folded.states[max(0, index - policy.window)],
            policy,
            agents,
            result.item.category,
            router_id=result.routing.router_id,
            index=index,
        )
        assert result.routing == expected, result.item.id


def test_a_scheduler_that_does_not_answer_is_one_line() -> None:
    from orch.errors import ConfigError
    from orch.eval.distributed import open_engine

    with (
        pytest.raises(ConfigError, match=r"^--scheduler: 'tcp://127.0.0.1:9': no Dask scheduler answers \("),
        open_engine(None, "tcp://127.0.0.1:9"),
    ):
        pass
