"""Whole graphs over scripted pools: order independence, determinism, timing, and the MLflow run."""

from __future__ import annotations

import random

import mlflow
from mlflow import MlflowClient

from orch.app.recording import log_graph, log_results, run_params
from orch.app.session import Session
from orch.backends.pool import AgentPool
from orch.items import Item
from orch.summary import summarize
from orch.testing import ScriptedChatModel
from tests.conftest import analyst


def shuffled_pool(pool_config, seed: int) -> tuple[AgentPool, dict[str, ScriptedChatModel]]:
    rng = random.Random(seed)
    models = {
        agent: ScriptedChatModel(script=analyst(answer, 60), delay_s=lambda _, r=rng: r.uniform(0, 0.02))
        for agent, answer in (("strong", "C"), ("mid", "B"), ("weak", "B"))
    }
    return AgentPool.from_chat_models(pool_config, models, concurrency=3), models


def test_result_does_not_depend_on_arrival_order(pool_config, item: Item) -> None:
    prompts, answers = set(), set()
    for seed in range(6):
        pool, models = shuffled_pool(pool_config, seed)
        with Session("orch-merge", pool_config).start(pool) as runner:
            result = runner.invoke(item)
        merge_prompt = models["strong"].calls[-1]["messages"][1].content
        prompts.add(merge_prompt)
        answers.add((result.answer, tuple(a.agent for a in result.analyses)))
    assert len(prompts) == 1 and answers == {("C", ("mid", "strong", "weak"))}


def test_item_result_times_phases_and_sums_usage(pool_config, item: Item) -> None:
    pool, _ = shuffled_pool(pool_config, 0)
    with Session("orch-merge", pool_config).start(pool) as runner:
        result = runner.invoke(item)
    assert result.usage.calls == 4  # three analyses + one merge
    assert result.analysis_ms > 0 and result.decision_ms > 0
    assert result.wall_ms >= result.analysis_ms and result.model_ms == result.usage.latency_ms > 0
    assert result.correct is True and result.decision.agent == "strong"


def test_answer_all_keeps_item_order_and_reports_each(pool_config) -> None:
    items = [Item(id=f"t/{i}", question=f"q{i}?", options=("a", "b", "c"), answer="B") for i in range(5)]
    pool, _ = shuffled_pool(pool_config, 1)
    seen: list[str] = []
    with Session("vote", pool_config).start(pool) as runner:
        results = runner.batch(items, concurrency=3, on_result=lambda r: seen.append(r.item.id))
    assert [r.item.id for r in results] == [i.id for i in items]
    assert sorted(seen) == sorted(i.id for i in items)
    summary = summarize(results)
    assert (summary.accuracy, summary.invalid, summary.calls_per_item) == (1.0, 0, 3)
    assert {a.agent: a.fallback_rate for a in summary.agents} == {"mid": 0.0, "strong": 0.0, "weak": 0.0}


def test_a_run_is_logged_to_a_real_mlflow_store(pool_config, item: Item) -> None:
    from orch.tracking import Tracker

    pool, _ = shuffled_pool(pool_config, 2)
    session = Session("orch-paper", pool_config)
    tracker = Tracker()
    assert tracker.settings.strict  # conftest: logging failures raise in tests
    with (
        tracker.start_run("test-runs", "paper", tags={"orch.command": "test"}) as run_id,
        session.start(pool, item_context=tracker.item_trace) as runner,
    ):
        tracker.log_params(run_params(session))
        log_graph(tracker, session)
        result = runner.invoke(item)
        log_results(tracker, [result])
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["graph"] == "orch-paper" and run.data.params["role.merger"] == "strong"
    assert (
        run.data.metrics["accuracy"] == 1.0 and run.data.metrics["calls_per_item"] == 5
    )  # dispatcher, 3 analyses, merge
    assert (run.data.metrics["traces_written"], run.data.metrics["traces_missing"]) == (1, 0)  # counted, not assumed
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {
        a.path for a in client.list_artifacts(run_id, "graph")
    }
    assert {"items.json", "summary.json", "graph/graph.png", "graph/graph.mmd", "graph/orch-paper.yaml"} <= artifacts
    table = mlflow.load_table("items.json", run_ids=[run_id])
    assert table.loc[0, "item_id"] == item.id and table.loc[0, "answer"] == "C"
    [trace] = mlflow.search_traces(locations=[run.info.experiment_id], run_id=run_id, return_type="list")
    names = [span.name for span in trace.data.spans]
    assert names[0] == f"item {item.id}"
    assert {"decompose", "analyze", "merge"} <= set(names)
    assert names.count("analyze") == 3
    assert trace.info.tags["item_id"] == item.id
    assessed = {a.name: a.value for a in trace.info.assessments}
    assert assessed == {"gold": "C", "correct": True}  # the Traces view filters right and wrong answers


def test_a_routed_item_records_the_routed_panel_and_merger(pool_config, item: Item, tmp_path, monkeypatch) -> None:
    """With a cold router every utility ties and the agent id decides: mid merges, not the pool's `strong`."""
    from orch.app.recording import run_params
    from orch.app.session import RouterOptions

    monkeypatch.setenv("ORCH_ROUTER_STORE", f"sqlite:///{tmp_path / 'router.sqlite'}")
    pool, _ = shuffled_pool(pool_config, 3)
    session = Session("orch-ema", pool_config)
    with session.start(pool, router=RouterOptions(router_id="t", fresh=True)) as runner:
        params = run_params(session)
        result = runner.invoke(item)
    assert result.routing is not None and result.routing.merger == "mid"
    assert result.roles["merger"] == "mid" == result.decision.agent
    assert result.panel == result.routing.panel == ["mid", "strong", "weak"]
    assert params["role.merger"] == "routed" and params["panel"] == "routed"  # not the configured `strong`


def test_results_stored_before_the_records_module_still_load(item: Item) -> None:
    """Stored results (`.orch/evals.sqlite`, `results.jsonl`) from earlier runs keep loading."""
    from orch.records import ItemResult

    old = {
        "item": item.model_dump(),
        "graph": "orch-ema",
        "answer": "C",
        "correct": True,
        "decision": {"answer": "C", "node": "merge", "method": "merge"},
        "analyses": [],
        "panel": ["mid"],
        "roles": {"merger": "mid", "dispatcher": "mid"},
        "latency_ms": 12.5,
        "analysis_ms": 1.0,
        "decision_ms": 1.0,
        "usage": {},
        "routing": {
            "panel": ["mid"],
            "merger": "mid",
            "ranking": ["mid"],
            "utilities": {"mid": 0.5},
            "ema": {},
            "state_version": 0,
            "state_hash": "x",
            "router_id": "default",
        },
        "feedback": {"source": "answers", "extra_calls": 0, "observations": [{"agent": "mid", "item_id": item.id}]},
    }
    result = ItemResult.model_validate(old)
    assert result.wall_ms == 12.5 and result.routing.merger == "mid" and result.feedback.observations[0].agent == "mid"


def test_items_whose_calls_failed_are_labelled_degraded_or_failed(pool_config, item: Item, scripted_pool) -> None:
    import httpx
    import openai

    def down(*_: object) -> Exception:
        return openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))

    pool, _ = scripted_pool(strong=analyst("C"), mid=down, weak=analyst("C"))
    with Session("orch-merge", pool_config).start(pool) as runner:
        degraded = runner.invoke(item)
    assert (degraded.status, degraded.answer) == ("degraded", "C")
    assert [f.split(":")[0] for f in degraded.failures] == ["mid"]

    pool, _ = scripted_pool(strong=down, mid=down, weak=down)
    with Session("single", pool_config).start(pool) as runner:
        failed = runner.invoke(item)
    assert (failed.status, failed.answer, failed.correct) == ("failed", None, None)  # not scored as wrong
    assert failed.failures and failed.failures[0].startswith("strong: ")
    assert summarize([degraded, failed]).model_dump(include={"graded", "degraded", "failed", "invalid"}) == {
        "graded": 1,
        "degraded": 1,
        "failed": 1,
        "invalid": 0,
    }
