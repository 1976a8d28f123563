"""The evaluation result store and the call cache on a real PostgreSQL server (`ORCH_EVAL_STORE`,
`ORCH_CALL_CACHE`): shared by several connections as the workers of one evaluation share them, an
evaluation on them keeps nothing in the state folder, and a re-run makes no call."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orch.backends.cache import CallCache
from orch.errors import ConfigError
from orch.eval.evaluate import evaluate
from orch.eval.store import EvaluationRecord, ResultStore
from orch.items import Item
from orch.records import Decision, ItemResult, Usage
from orch.settings import get_settings
from tests.postgres import postgres_server
from tests.test_evaluate import request, server, setup  # noqa: F401  (fixtures)

_names = itertools.count()


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def database(postgres: str) -> str:
    """A fresh, empty database on the module's server: each test starts with no tables."""
    name = f"t{next(_names)}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def result(item_id: str, status: str = "ok") -> ItemResult:
    item = Item(id=item_id, question=f"{item_id}?", options=("x", "y"), answer="A")
    answer = None if status == "failed" else "A"
    return ItemResult(
        item=item,
        graph="g",
        answer=answer,
        correct=None if answer is None else True,
        decision=Decision(answer=answer, node="vote", method="vote"),
        analyses=[],
        panel=[],
        roles={},
        wall_ms=1.0,
        analysis_ms=0.0,
        decision_ms=0.0,
        usage=Usage(),
        status=status,
        failures=["a: refused"] if status == "failed" else [],
    )


def test_two_connections_share_results_failures_and_records(database: str) -> None:
    writer, reader = ResultStore(database), ResultStore(database)
    try:
        writer.save("k", result("i1"))
        writer.save("k", result("i2", "failed"))
        writer.save("k", result("i2", "failed"))
        assert set(reader.load("k", ["i1", "i2", "i3"])) == {"i1"}
        assert reader.failures("k") == {"i2": (["a: refused"], 2)}
        reader.save("k", result("i2"))  # answered since: no longer a failure
        assert set(writer.load("k", ["i1", "i2"])) == {"i1", "i2"} and writer.failures("k") == {}
        record = EvaluationRecord(eval_key="e", benchmark="b", sample="all", seed=0, systems=["s"], experiment="x")
        writer.save_evaluation(record)
        record.parent_run_id = "run-1"
        reader.save_evaluation(record)
        assert [r.parent_run_id for r in writer.evaluations()] == ["run-1"]
    finally:
        writer.close()
        reader.close()


def test_the_call_cache_is_shared_by_two_connections(database: str) -> None:
    first = CallCache(database, prompt_version="p")
    second = CallCache(database, prompt_version="p")
    try:
        assert second.get("key") is None
        first.put("key", "a", {"text": "B", "latency_ms": 12.5})
        first.put("key", "a", {"text": "B", "latency_ms": 12.5})  # the same call stored twice: one row
        assert second.get("key") == {"text": "B", "latency_ms": 12.5} and len(second) == 1
        assert (second.stats.hits, second.stats.misses) == (1, 1)
    finally:
        first.close()
        second.close()


def test_an_evaluation_on_postgres_resumes_from_it(
    setup: dict[str, Any],  # noqa: F811
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCH_EVAL_STORE", database)
    monkeypatch.setenv("ORCH_CALL_CACHE", database)
    first = evaluate(request(setup), pool=setup["pool"])
    calls = len(setup["requests"])
    assert first.calls_made == calls == 3 * 8 + 4 * 8  # single agents, the vote reuses them, orch
    state = get_settings().state_dir
    assert not (state / "evals.sqlite").exists() and not (state / "calls.sqlite").exists()
    with psycopg.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 5 * 8
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == calls

    second = evaluate(request(setup), pool=setup["pool"])
    assert len(setup["requests"]) == calls and second.calls_made == 0
    assert second.record.parent_run_id == first.record.parent_run_id and second.markdown == first.markdown


def test_a_server_that_is_down_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^environment: ORCH_EVAL_STORE: 'postgresql://.*': cannot connect \("):
        ResultStore("postgresql://orch:secret@127.0.0.1:9/orch")
    with pytest.raises(ConfigError, match=r"'postgresql://orch:\*\*\*@127\.0\.0\.1:9/orch'"):  # no password shown
        CallCache("postgresql://orch:secret@127.0.0.1:9/orch", prompt_version="p")
    with pytest.raises(ConfigError, match=r"^environment: ORCH_CALL_CACHE: 'redis://x': use sqlite:///path or"):
        CallCache("redis://x", prompt_version="p")


def test_a_router_store_that_is_down_names_the_setting() -> None:
    from orch.routers.store import RouterRepo

    with (
        pytest.raises(ConfigError, match=r"^environment: ORCH_ROUTER_STORE: 'postgresql://127.0.0.1:9/x': cannot"),
        RouterRepo.open("postgresql://127.0.0.1:9/x"),
    ):
        pass
