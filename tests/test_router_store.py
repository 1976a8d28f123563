"""Router persistence through real LangGraph stores: versions, processes, PostgreSQL, delayed feedback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from orch.errors import ConfigError
from orch.records import Observation
from orch.routers.policy import PRESETS
from orch.routers.setup import fold_once
from orch.routers.state import RouterState
from orch.routers.store import RouterRepo
from tests.postgres import postgres_server

PAPER = PRESETS["paper"]
REPO_ROOT = Path(__file__).parents[1]


def observation(agent: str, item: str, correct: float) -> list[Observation]:
    return [Observation(agent=agent, item_id=item, correct=correct, latency_ms=100, cost=0, ok=True)]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_every_update_is_a_version_and_feedback_counts_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'router.sqlite'}"
    with RouterRepo.open(url) as repo:
        for i in range(3):
            repo.commit("r", fold_once(observation("a", f"i{i}", 1.0), PAPER, f"run/i{i}"), reason=f"run/i{i}")
        again = repo.commit("r", fold_once(observation("a", "i1", 1.0), PAPER, "run/i1"), reason="run/i1")
        history = repo.history("r")
        assert [v.version for v in history] == [1, 2, 3] and again is not None and again.version == 3
        assert repo.current("r").state.agents["a"].accuracy.value == pytest.approx(1 - 0.5 * 0.8**3)
        assert repo.routers() == ["r"]
        assert repo.reset("r") == 3 and repo.current("r") is None


def test_state_survives_the_process_that_wrote_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'router.sqlite'}"
    writer = textwrap.dedent(f"""
        from orch.routers.policy import PRESETS
        from orch.routers.setup import fold_once
        from orch.records import Observation
        from orch.routers.store import RouterRepo
        with RouterRepo.open({url!r}) as repo:
            obs = [Observation(agent="a", item_id="x", correct=0.0, latency_ms=5, cost=0, ok=True)]
            print(repo.commit("shared", fold_once(obs, PRESETS["paper"], "p1/x"), reason="p1/x").state_hash)
    """)
    done = subprocess.run([sys.executable, "-c", writer], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    with RouterRepo.open(url) as repo:
        current = repo.current("shared")
    assert current is not None and current.state_hash == done.stdout.strip() and current.version == 1


def _hammer(url: str, router: str, who: str, n: int) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        from orch.routers.policy import PRESETS
        from orch.routers.setup import fold_once
        from orch.records import Observation
        from orch.routers.store import RouterRepo
        with RouterRepo.open({url!r}) as repo:
            for i in range({n}):
                obs = [Observation(agent={who!r}, item_id=str(i), correct=1.0, latency_ms=1, cost=0, ok=True)]
                repo.commit({router!r}, fold_once(obs, PRESETS["paper"], f"{who}/{{i}}"), reason="load")
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, text=True, stderr=subprocess.PIPE)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes_updating_one_router_lose_no_update(backend: str, tmp_path: Path, request) -> None:
    url = f"sqlite:///{tmp_path / 'router.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    router = f"shared-{backend}-{tmp_path.name}"
    procs = [_hammer(url, router, who, 25) for who in ("p1", "p2")]
    for proc in procs:
        _, err = proc.communicate(timeout=300)  # reads stderr as it comes: a full pipe would block the child
        assert proc.returncode == 0, err
    with RouterRepo.open(url) as repo:
        current = repo.current(router)
        history = repo.history(router)
    assert current is not None and current.version == 50 and len(current.state.applied) == 50
    assert [v.version for v in history] == list(range(1, 51))
    assert current.state.agents["p1"].accuracy.n == 25 and current.state.agents["p2"].accuracy.n == 25


def test_a_state_from_another_policy_is_refused(tmp_path: Path, pool_config) -> None:
    from orch.graphs import load_graph
    from orch.routers.setup import open_router

    url = f"sqlite:///{tmp_path / 'router.sqlite'}"
    other = PRESETS["paper-lexicographic"]
    with RouterRepo.open(url) as repo:
        repo.commit("default", lambda _: RouterState.fresh(other).model_copy(update={"version": 1}), reason="seed")
    graph = load_graph("orch-ema", pool=pool_config)
    with (
        pytest.raises(ConfigError, match="router: default: its state \\(version 1\\) was built with policy"),
        open_router(graph.route, pool_config, router_id="default", scope="s", store_url=url),
    ):
        pass


def test_export_is_the_stored_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'router.sqlite'}"
    with RouterRepo.open(url) as repo:
        repo.commit("r", fold_once(observation("a", "i", 1.0), PAPER, "x/i"), reason="x/i")
        record = repo.current("r")
    data = json.loads(record.model_dump_json())
    assert data["state"]["policy_hash"] == PAPER.policy_hash and data["version"] == 1


def test_delayed_feedback_is_applied_once_and_only_once(tmp_path: Path, monkeypatch, pool_config) -> None:
    from orch.app.feedback import give_feedback as apply_feedback
    from orch.app.recording import log_results, run_params
    from orch.app.session import RouterOptions, Session
    from orch.backends.pool import AgentPool
    from orch.errors import OrchError
    from orch.items import Item
    from orch.testing import ScriptedChatModel
    from orch.tracking import Tracker
    from tests.conftest import analyst

    monkeypatch.setenv("ORCH_ROUTER_STORE", f"sqlite:///{tmp_path / 'router.sqlite'}")
    models = {a: ScriptedChatModel(script=analyst(x)) for a, x in (("strong", "C"), ("mid", "B"), ("weak", "C"))}
    pool = AgentPool.from_chat_models(pool_config, models)
    item = Item(id="ask/1", question="Which?", options=("a", "b", "c", "d"))  # no gold at prediction time
    session, tracker = Session("orch-ema", pool_config), Tracker()
    with (
        tracker.start_run("test-feedback", "ask") as run_id,
        session.start(pool, router=RouterOptions(router_id="prod", scope=run_id)) as r,
    ):
        result = r.invoke(item)
        tracker.log_params(run_params(session))
        log_results(tracker, [result])
    with RouterRepo.open(f"sqlite:///{tmp_path / 'router.sqlite'}") as repo:
        before = repo.current("prod")
    assert before.version == 1 and before.state.agents["strong"].accuracy.n == 0  # latency learned, not accuracy

    first = apply_feedback(run_id, "ask/1", "c")
    assert first.applied and first.answer == "C" and first.correct == {"mid": 0.0, "strong": 1.0, "weak": 1.0}
    second = apply_feedback(run_id, "ask/1", "C")
    assert not second.applied and second.version == first.version == 2
    with RouterRepo.open(f"sqlite:///{tmp_path / 'router.sqlite'}") as repo:
        after = repo.current("prod").state
    assert after.agents["strong"].accuracy.n == 1  # orch-ema's EMAs are bias-corrected: one answer is the estimate
    assert after.agents["mid"].accuracy.value == 0.0 and after.agents["strong"].accuracy.value == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="'E' is not a valid answer for ask/1"):
        apply_feedback(run_id, "ask/1", "E")
    with pytest.raises(OrchError, match="has no item 'ask/2'"):
        apply_feedback(run_id, "ask/2", "C")
