"""Evaluations end to end over a scripted OpenAI-compatible HTTP server: calls are counted at the
HTTP boundary, results survive a crash, re-runs make no calls, and MLflow holds one parent run
with a nested run per system."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from orch.backends.cache import ReplayMiss
from orch.eval.evaluate import EvalHooks, EvalRequest, evaluate, sc_samples
from orch.eval.store import ResultStore
from orch.settings import get_settings
from tests.fake_openai import fake_openai

ANSWERS = {"m-strong": "B", "m-mid": "A", "m-weak": "C"}


@pytest.fixture
def server() -> Iterator[dict[str, Any]]:
    with fake_openai(lambda model, enum: ANSWERS[model] if ANSWERS[model] in enum else enum[0]) as srv:
        yield srv


@pytest.fixture
def setup(server: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "agents:\n"
        + "".join(
            f"  - {{id: {a}, model: m-{a}, base_url: '{server['base_url']}'}}\n" for a in ("strong", "mid", "weak")
        )
        + "roles: {merger: strong}\nremote_concurrency: 4\n"
    )
    data = tmp_path / "quiz.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "question": f"Question {i}?",
                    "options": ["w", "x", "y", "z"],
                    "answer": "B" if i % 2 else "C",
                    "category": "odd" if i % 2 else "even",
                }
            )
            + "\n"
            for i in range(8)
        )
    )
    return {"pool": pool, "data": data, "requests": server["requests"]}


def request(setup: dict[str, Any], **overrides: Any) -> EvalRequest:
    from orch.eval.datasets import ColumnMapping

    fields = {
        "benchmark": str(setup["data"]),
        "sample": "all",
        "systems": "single:*,vote,orch-merge",
        "concurrency": 3,
        "mapping": ColumnMapping(category="category"),
    }
    return EvalRequest(**{**fields, **overrides})


def test_evaluation_compares_systems_in_one_experiment(setup: dict[str, Any]) -> None:
    outcome = evaluate(request(setup), pool=setup["pool"])
    # 3 single agents × 8 items, the vote reuses those calls, ORCH: 3 analyses + 1 merge per item
    assert len(setup["requests"]) == outcome.calls_made == 3 * 8 + 0 + 4 * 8
    rows = {r.name: r for r in outcome.report.rows}
    assert rows["single:strong"].accuracy.k == 4 and rows["single:mid"].accuracy.k == 0
    assert rows["orch-merge"].accuracy.value == 0.5 and rows["orch-merge"].calls_per_item == 4
    [vs_strong] = [c for c in outcome.report.comparisons if c.comparison.baseline == "single:strong"]
    assert (vs_strong.comparison.b, vs_strong.comparison.c, vs_strong.comparison.p_value) == (0, 0, 1.0)
    assert "## Systems" in outcome.markdown and "## Merge audit" in outcome.markdown
    _check_should_you_ensemble(outcome.report, outcome.markdown)

    client = MlflowClient()
    parent = client.get_run(outcome.record.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.params["n_items"] == "8"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.md", "report.json", "manifest.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {"plots/accuracy.png", "plots/cost_vs_accuracy.png", "plots/accuracy_per_category.png"}
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert {c.data.tags["orch.system"] for c in children} == {
        "single:strong",
        "single:mid",
        "single:weak",
        "vote",
        "orch-merge",
    }
    keys = [set(c.data.metrics) - {k for k in c.data.metrics if k.startswith("agent.")} for c in children]
    assert all(k == keys[0] for k in keys) and "accuracy_ci_low" in keys[0]


def _check_should_you_ensemble(report: Any, markdown: str) -> None:
    """strong answers B (right on the 4 odd items), mid A (never right), weak C (right on the 4 even
    ones); orch-merge's merge follows strong on every item."""
    assert report.best_single == "single:strong" and report.noninferiority_margin == 0.03
    [ni] = report.noninferiority
    # identical to strong on 8 items: z = sqrt(nδ / (1 − δ)) = sqrt(0.24 / 0.97), one-sided p = 0.309
    assert (ni.target, ni.baseline, ni.test.b, ni.test.c, ni.non_inferior) == (
        "orch-merge",
        "single:strong",
        0,
        0,
        False,
    )
    assert ni.test.p_value == pytest.approx(0.309448, abs=1e-6) and ni.p_holm == ni.test.p_value
    assert (round(ni.test.ci_low, 4), round(ni.test.ci_high, 4)) == (-0.3244, 0.3244)
    assert report.verdict == (
        "ensemble not worth it: orch-merge is not non-inferior to single:strong at 3 points "
        "(Δ +0.0%, 95% CI -32.4% to +32.4%, Holm p = 0.309)"
    )
    pairs = {(a.agent_a, a.agent_b): a for a in report.agreement}
    assert list(pairs) == [("strong", "mid"), ("strong", "weak"), ("mid", "weak")]
    assert (pairs["strong", "weak"].kappa, pairs["strong", "weak"].both_wrong) == (-1.0, 0)  # complementary
    assert pairs["strong", "mid"].kappa == 0.0 and math.isnan(pairs["strong", "mid"].error_correlation)
    [audit] = report.audits
    # every analyst names a different letter: the panel oracle is 8/8, but one fixed weighting can
    # only follow one agent, so the weighted oracle is 4/8 (ties: the first agent of the panel)
    assert (audit.oracle.k, audit.weighted_oracle.k, audit.audit.majority_correct) == (8, 4, 0)
    assert sorted(audit.oracle_weights.values()) == [0, 0, 1]
    assert f"**Should you ensemble at all?** {report.verdict}." in markdown
    assert "## Should you ensemble at all?" in markdown and "| weighted oracle | oracle weights |" in markdown


def test_rerun_makes_no_calls_and_reuses_the_runs(setup: dict[str, Any]) -> None:
    first = evaluate(request(setup), pool=setup["pool"])
    n = len(setup["requests"])
    second = evaluate(request(setup), pool=setup["pool"])
    assert len(setup["requests"]) == n and second.calls_made == 0
    assert second.record.parent_run_id == first.record.parent_run_id
    assert second.markdown == first.markdown


def test_interrupted_evaluation_resumes_without_repeating_items(setup: dict[str, Any]) -> None:
    seen: list[str] = []

    def crash(system: Any, result: Any) -> None:
        seen.append(f"{system.name}/{result.item.id}")
        if system.name == "orch-merge" and sum(s.startswith("orch-merge/") for s in seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(request(setup), pool=setup["pool"], hooks=EvalHooks(item_done=crash))
    calls_before_crash = len(setup["requests"])
    [crashed] = ResultStore(get_settings().state_dir / "evals.sqlite").evaluations()
    assert crashed.status == "running" and MlflowClient().get_run(crashed.parent_run_id).info.status == "KILLED"
    finished_orch = {s for s in seen if s.startswith("orch-merge/")}

    resumed: list[str] = []
    outcome = evaluate(
        request(setup),
        pool=setup["pool"],
        hooks=EvalHooks(item_done=lambda s, r: resumed.append(f"{s.name}/{r.item.id}")),
    )
    assert not finished_orch & set(resumed)  # no finished item ran again
    assert {s.split("/", 1)[0] for s in resumed} == {"orch-merge"}
    # the full evaluation's calls, plus at most the one call each item in flight had sent when the run
    # stopped (answered by the server, never received): finished items cost nothing twice
    assert 3 * 8 + 4 * 8 <= len(setup["requests"]) <= 3 * 8 + 4 * 8 + 3
    assert len(setup["requests"]) - calls_before_crash == outcome.calls_made
    assert outcome.record.parent_run_id == crashed.parent_run_id  # the same MLflow runs, resumed
    assert MlflowClient().get_run(crashed.parent_run_id).info.status == "FINISHED"


def test_replay_refuses_uncached_calls_and_reproduces_cached_ones(setup: dict[str, Any]) -> None:
    with pytest.raises(ReplayMiss, match="replay: agent"):
        evaluate(request(setup, replay=True), pool=setup["pool"])
    first = evaluate(request(setup), pool=setup["pool"])
    n = len(setup["requests"])
    replayed = evaluate(request(setup, replay=True, fresh=True), pool=setup["pool"])
    assert len(setup["requests"]) == n
    assert replayed.report.rows == first.report.rows
    assert replayed.record.parent_run_id != first.record.parent_run_id


def test_self_consistency_matches_the_target_budget(setup: dict[str, Any]) -> None:
    outcome = evaluate(request(setup, systems="cot:strong,orch-merge,sc:strong"), pool=setup["pool"])
    rows = {r.name: r for r in outcome.report.rows}
    expected = sc_samples(rows["orch-merge"].tokens_per_item, rows["cot:strong"].tokens_per_item)
    assert rows["sc:strong"].calls_per_item == expected
    assert any(
        note.startswith(f"sc:strong: {expected} samples, matching orch-merge's") for note in outcome.report.notes
    )
    flags = {(c.comparison.baseline, c.flagged) for c in outcome.report.comparisons}
    assert ("cot:strong", False) in flags  # orch-merge does not beat it here, so nothing is claimed or flagged


@pytest.mark.parametrize(("target", "sample", "expected"), [(1600, 320, 5), (100, 320, 2), (10_000, 100, 16)])
def test_sc_samples_are_bounded(target: float, sample: float, expected: int) -> None:
    assert sc_samples(target, sample) == expected


def test_report_is_rerendered_from_logged_results_without_calls(setup: dict[str, Any]) -> None:
    from orch.eval.logged import list_evaluations, report_from_run

    outcome = evaluate(request(setup), pool=setup["pool"])
    calls = len(setup["requests"])
    report, markdown = report_from_run(outcome.record.parent_run_id)
    assert len(setup["requests"]) == calls
    assert report == outcome.report and markdown == outcome.markdown
    listed = [row for row in list_evaluations(50) if row["run_id"] == outcome.record.parent_run_id]
    assert listed and listed[0]["systems"] == "single:strong,single:mid,single:weak,vote,orch-merge"
    assert listed[0]["verdict"] == report.verdict and listed[0]["benchmark"] == "quiz"


def test_report_of_a_run_that_is_not_an_evaluation_is_one_line(setup: dict[str, Any]) -> None:
    import mlflow

    from orch.errors import OrchError
    from orch.eval.logged import report_from_run

    with mlflow.start_run() as run:
        pass
    with pytest.raises(OrchError, match=f"run {run.info.run_id} is not an orch evaluation"):
        report_from_run(run.info.run_id)


def test_a_reply_cut_by_max_tokens_over_http_is_read_not_raised(tmp_path: Path) -> None:
    """The SDK's parse() raises LengthFinishReasonError on a cut reply; orch must keep the text instead."""

    from orch.app.session import Session
    from orch.backends.pool import AgentPool
    from orch.config import PoolConfig
    from orch.items import Item
    from tests.fake_openai import CUT

    with fake_openai(lambda model, enum: CUT if model == "m-cut" else enum[1]) as srv:
        config = PoolConfig.model_validate(
            {
                "agents": [
                    {"id": "cut", "model": "m-cut", "base_url": srv["base_url"]},
                    {"id": "ok", "model": "m-ok", "base_url": srv["base_url"]},
                ],
                "roles": {"merger": "ok"},
            }
        )
        item = Item(id="c/1", question="q?", options=("a", "b", "c"), answer="B")
        with AgentPool.start(config, ["cut", "ok"]) as pool, Session("orch-merge", config).start(pool) as run:
            result = run.invoke(item)
        cut = next(a for a in result.analyses if a.agent == "cut")
        assert cut.path == "invalid" and cut.analysis.key_points == ["a fact that was cu"]
        assert result.answer == "B" and all("response_format" in r for r in srv["requests"])


def test_routed_system_logs_ema_curves_resumes_and_replays(setup: dict[str, Any], tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    from orch.eval.replay import replay_evaluation

    systems = "single:*,orch-merge,orch-ema"
    seen: list[str] = []

    def crash(system: Any, result: Any) -> None:
        seen.append(system.name)
        if seen.count("orch-ema") == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(request(setup, systems=systems, concurrency=1), pool=setup["pool"], hooks=EvalHooks(item_done=crash))
    resumed = evaluate(request(setup, systems=systems, concurrency=1), pool=setup["pool"])

    client = MlflowClient()
    child = client.get_run(resumed.record.system_run_ids["orch-ema"])
    assert child.data.params["router.id"].startswith("eval-") and child.data.params["router.start_version"] == "0"
    curve = client.get_metric_history(child.info.run_id, "ema.strong.accuracy")
    assert sorted({m.step for m in curve}) == list(range(8))
    routed = [(r["item_id"], r["routing.merger"], r["routing.state_version"]) for r in mlflow_table(child.info.run_id)]
    assert [v for *_, v in routed] == list(range(8))  # prequential: item i saw the feedback of items before it

    # the same evaluation replayed from the cache in a fresh state folder routes identically
    fresh_state = tmp_path / "fresh-state"
    fresh_state.mkdir()
    with (
        sqlite3.connect(get_settings().state_dir / "calls.sqlite") as src,
        sqlite3.connect(fresh_state / "calls.sqlite") as dst,
    ):
        src.backup(dst)  # a file copy would miss what still sits in the write-ahead log
    monkeypatch.setenv("ORCH_STATE_DIR", str(fresh_state))
    again = evaluate(request(setup, systems=systems, replay=True, concurrency=4), pool=setup["pool"])
    child_again = client.get_run(again.record.system_run_ids["orch-ema"])
    routed_again = [
        (r["item_id"], r["routing.merger"], r["routing.state_version"]) for r in mlflow_table(child_again.info.run_id)
    ]
    assert routed_again == routed

    outcome = replay_evaluation(resumed.record.parent_run_id, {"orch": {"preset": "orch"}, "k=1": {"k": 1}}, log=True)
    assert [r.setting for r in outcome.results] == ["orch", "k=1"] and outcome.items == 8
    assert outcome.source == "orch-merge analyses"
    # replaying the live router's own setting on the signals it learned from reproduces its choices
    assert [d.merger for d in outcome.results[0].decisions] == [merger for _, merger, _ in routed]
    assert outcome.fixed_agents == {"mid": 0.0, "strong": 0.5, "weak": 0.5}
    assert len(outcome.run_ids) == 2
    logged = client.get_run(outcome.run_ids[1])
    assert logged.data.params["setting"] == "k=1" and "merger_accuracy" in logged.data.metrics


def mlflow_table(run_id: str) -> list[dict[str, Any]]:
    import mlflow

    return mlflow.load_table("items.json", run_ids=[run_id]).to_dict("records")


def test_a_graph_can_be_compared_as_a_baseline(setup: dict[str, Any]) -> None:
    outcome = evaluate(
        request(setup, systems="single:strong,orch-merge,orch-ema", baselines=("orch-merge",)), pool=setup["pool"]
    )
    pairs = {(c.comparison.target, c.comparison.baseline) for c in outcome.report.comparisons}
    assert pairs == {("orch-ema", "single:strong"), ("orch-ema", "orch-merge")}
    assert [r.name for r in outcome.report.rows] == ["single:strong", "orch-merge", "orch-ema"]
    assert any(note.startswith("orch-ema: router eval-") and "extra calls" in note for note in outcome.report.notes)


def test_rerendering_a_baseline_evaluation_reproduces_the_live_report(setup: dict[str, Any]) -> None:
    """`orch eval report` keeps graphs compared as baselines as baselines: same target, same Holm family."""
    from orch.eval.logged import report_from_run

    outcome = evaluate(
        request(setup, systems="single:strong,orch-merge,orch-paper", baselines=("orch-merge",)), pool=setup["pool"]
    )
    assert outcome.report.first_target == "orch-paper"
    report, markdown = report_from_run(outcome.record.parent_run_id)
    assert report.first_target == "orch-paper"
    assert report.comparisons == outcome.report.comparisons and markdown == outcome.markdown


def test_the_parent_run_shows_each_systems_accuracy_and_the_best(setup: dict[str, Any]) -> None:
    outcome = evaluate(request(setup), pool=setup["pool"])
    parent = MlflowClient().get_run(outcome.record.parent_run_id)
    assert parent.data.metrics["accuracy.single_strong"] == 0.5 and parent.data.metrics["accuracy.orch-merge"] == 0.5
    assert parent.data.tags["orch.best_system"] == "single:strong"  # ties go to the first listed
    assert parent.data.tags["orch.verdict"] == outcome.report.verdict
    assert parent.data.metrics["noninferiority_p.orch-merge"] == pytest.approx(0.309448, abs=1e-6)
    assert parent.data.params["noninferiority_margin"] == "0.03"


def test_the_margin_is_an_option_and_the_logged_report_keeps_it(setup: dict[str, Any]) -> None:
    from orch.eval.logged import report_from_run

    outcome = evaluate(request(setup, noninferiority_margin=0.4), pool=setup["pool"])
    # identical to strong on 8 items: z = sqrt(8 · 0.4 / 0.6), p = 0.0105 < 0.025
    [ni] = outcome.report.noninferiority
    assert ni.non_inferior and ni.test.p_value == pytest.approx(0.010461, abs=1e-6)
    assert outcome.report.verdict.startswith(
        "ensemble holds up: orch-merge is non-inferior to single:strong at 40 points"
    )
    report, markdown = report_from_run(outcome.record.parent_run_id)
    assert report.noninferiority_margin == 0.4 and report.verdict == outcome.report.verdict
    assert markdown == outcome.markdown


def test_a_graph_built_in_python_is_evaluated_like_its_yaml(setup: dict[str, Any], tmp_path: Path) -> None:
    from orch.graphs import END, START, GraphBuilder

    graph = (
        GraphBuilder("my-orch")
        .add_node("analyze", "analyze", fan_out="panel", max_chars=300)
        .add_node("merge", "merge", agent="merger")
        .add_edge(START, "analyze")
        .add_edge("analyze", "merge")
        .add_edge("merge", END)
        .build()
    )
    spec = tmp_path / "my-orch.yaml"
    spec.write_text(graph.to_yaml())
    from_python = evaluate(request(setup, systems=["single:*", "vote", graph]), pool=setup["pool"])
    calls = len(setup["requests"])
    from_yaml = evaluate(request(setup, systems=f"single:*,vote,{spec}"), pool=setup["pool"])
    assert len(setup["requests"]) == calls  # the same graph: every result is reused
    assert from_yaml.markdown == from_python.markdown
    assert [r.name for r in from_python.report.rows][-1] == "my-orch"


def test_failed_calls_are_failures_not_answers_and_a_rerun_retries_only_them(tmp_path: Path) -> None:
    """An endpoint that fails is no "invalid" answer: its items are stored as failures, left out of the
    comparison, the runs are marked FAILED, and the same command retries exactly those items."""
    broken = {"m-weak"}

    def answer(model: str, enum: list[str]) -> str:
        if model in broken:
            raise ConnectionError("the endpoint is down")  # the server drops the connection
        return ANSWERS[model] if ANSWERS[model] in enum else enum[0]

    with fake_openai(answer) as server:
        pool = tmp_path / "pool.yaml"
        pool.write_text(
            "agents:\n"
            + "".join(
                f"  - {{id: {a}, model: m-{a}, base_url: '{server['base_url']}', max_retries: 0}}\n"
                for a in ("strong", "weak")
            )
            + "roles: {merger: strong}\n"
        )
        data = tmp_path / "quiz.jsonl"
        data.write_text(
            "".join(json.dumps({"question": f"Q{i}?", "options": ["a", "b"], "answer": "B"}) + "\n" for i in range(4))
        )
        req = EvalRequest(benchmark=str(data), sample="all", systems="single:strong,single:weak,vote")
        first = evaluate(req, pool=pool)
        assert first.failed == {"single:strong": 0, "single:weak": 4, "vote": 0}
        assert first.degraded == {"single:strong": 0, "single:weak": 0, "vote": 4}  # voted without weak
        assert first.report.n_items == 0 and any("4 item(s) failed" in note for note in first.report.notes)
        client = MlflowClient()
        assert client.get_run(first.record.parent_run_id).info.status == "FAILED"
        store = ResultStore(get_settings().state_dir / "evals.sqlite")
        rows = store._db.execute("SELECT reasons, attempts FROM failures")
        assert len(rows) == 4 and all(attempts == 1 and "weak:" in reasons for reasons, attempts in rows)
        assert first.record.status == "incomplete"
        calls = len(server["requests"])

        broken.clear()  # the endpoint is back: the same command answers only what failed
        second = evaluate(req, pool=pool)
        assert len(server["requests"]) - calls == 4  # single:weak's four items, nothing else
        assert second.failed_items == 0 and second.report.n_items == 4
        assert second.record.status == "finished"
        assert client.get_run(second.record.parent_run_id).info.status == "FINISHED"
        assert store._db.execute("SELECT COUNT(*) FROM failures")[0][0] == 0  # answered since


def test_a_profile_is_fitted_from_analyses_and_direct_answers_of_several_systems(setup: dict[str, Any]) -> None:
    from orch.errors import OrchError
    from orch.eval.profile_fit import fit_profile

    outcome = evaluate(request(setup, systems="vote,orch"), pool=setup["pool"])
    run_id = outcome.record.parent_run_id
    profile = fit_profile("dev", [run_id], ("orch", "vote"))
    # strong always answers B (right on the 4 odd items), mid A (never), weak C (the 4 even ones)
    assert {w: (r.accuracy, r.answered) for w, r in profile.agents.items()} == {
        "mid": (0.0, 8),
        "mid/direct": (0.0, 8),
        "strong": (0.5, 8),
        "strong/direct": (0.5, 8),
        "weak": (0.5, 8),
        "weak/direct": (0.5, 8),
    }
    assert profile.source["system"] == f"orch@{run_id},vote@{run_id}" and profile.version == 1
    with pytest.raises(OrchError, match="has no system 'single:strong'"):
        fit_profile("dev", [run_id], ("single:strong",))
