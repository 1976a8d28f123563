"""Across the real boundaries: a managed llama.cpp server over HTTP, the CLI, a real MLflow store.

Structure only: answers must be valid options (or counted invalid), runs must be logged.
A 135M model's accuracy is noise and is never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from orch.app.session import Session
from orch.backends.catalog import is_installed
from orch.backends.pool import AgentPool
from orch.config import load_pool_config
from orch.items import Item

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = [
    pytest.mark.llamacpp,
    pytest.mark.skipif(not is_installed("smollm2-135m"), reason="run `orch models pull smollm2-135m` first"),
]


def orch(*args: str, cwd: Path, env_uri: str) -> subprocess.CompletedProcess[str]:
    env = {
        **__import__("os").environ,
        "MLFLOW_TRACKING_URI": env_uri,
        "ORCH_CONFIG": str(FIXTURES / "pool-smol.yaml"),
        "COLUMNS": "160",
    }
    return subprocess.run(
        [sys.executable, "-m", "orch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
        check=False,
    )


def test_orch_graph_over_http_gives_a_valid_answer_and_deterministic_decisions() -> None:
    config, _ = load_pool_config(FIXTURES / "pool-smol.yaml")
    item = Item(
        id="e2e/1",
        question="Which planet is known as the Red Planet?",
        options=("Venus", "Mars", "Jupiter", "Saturn"),
        answer="B",
    )
    session = Session("orch", config)
    with AgentPool.start(config, session.agents) as pool:
        assert set(pool.endpoints) == {"smol-a", "smol-b"}
        assert len(set(pool.endpoints.values())) == 1  # one server for the one model
        with session.start(pool) as runner:
            first = runner.invoke(item)
            second = runner.invoke(item)
    for result in (first, second):
        assert result.answer is None or result.answer in item.letters
        # orch: each agent's analysis and its direct answer; smol-* are not in the shipped profile, so
        # no witness has a weight and the merger decides
        assert [a.witness for a in result.analyses] == ["smol-a", "smol-a/direct", "smol-b", "smol-b/direct"]
        assert result.decision.method in ("merge", "merge_fallback_weighted", "none")
        assert all(a.path != "error" for a in result.analyses)
        assert result.usage.calls >= 3 and result.usage.output_tokens > 0
    # temperature 0, a seed and cache_prompt: false make the same item give the same text
    assert [a.raw for a in first.analyses] == [a.raw for a in second.analyses]
    assert first.decision.raw == second.decision.raw and first.answer == second.answer
    # llama.cpp sends the answer token's log-probabilities: a distribution over the options, whose
    # most likely option is the one the grammar let the model write (analyses and direct answers alike)
    for analysis in (a for a in first.analyses if a.answer is not None and a.path == "json"):
        assert analysis.distribution is not None and set(analysis.distribution) == set(item.letters)
        assert sum(analysis.distribution.values()) == pytest.approx(1.0, abs=1e-4)
        assert max(analysis.distribution, key=analysis.distribution.__getitem__) == analysis.answer


def test_cli_ask_logs_an_mlflow_run(tmp_path: Path, mlflow_store: str) -> None:
    done = orch(
        "ask",
        "What is 2 + 3?",
        "-o",
        "4",
        "-o",
        "5",
        "-o",
        "6",
        "--answer",
        "B",
        "--json",
        cwd=tmp_path,
        env_uri=mlflow_store,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["answer"] in (None, "A", "B", "C")
    assert result["decision"]["method"] in ("merge", "merge_fallback_vote", "merge_fallback_order", "none")
    client = MlflowClient(tracking_uri=mlflow_store)
    [run] = client.search_runs(
        [client.get_experiment_by_name("orch-ask").experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert run.info.status == "FINISHED" and run.data.params["graph"] == "orch"
    assert "accuracy" in run.data.metrics
    assert "graph/graph.png" in {a.path for a in client.list_artifacts(run.info.run_id, "graph")}


def test_cli_runs_a_yaml_only_user_graph_on_mmlu(tmp_path: Path, mlflow_store: str) -> None:
    done = orch(
        "run", "--graph", str(FIXTURES / "two-then-vote.yaml"), "--limit", "2", cwd=tmp_path, env_uri=mlflow_store
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Accuracy:" in done.stdout and "mmlu/abstract_algebra/1" in done.stdout
    client = MlflowClient(tracking_uri=mlflow_store)
    [run] = client.search_runs(
        [client.get_experiment_by_name("orch-mmlu").experiment_id],
        filter_string="params.graph = 'two-then-vote'",
        max_results=1,
    )
    assert run.data.metrics["items"] == 2
