"""The reliability-weighted decision: log-likelihood ratios against chance, so agents at chance add
nothing and one informative agent outweighs weak ones; profiles are versioned state read when the
graph compiles; a merge behind a decisive `weigh` makes no call, and a failed one falls back to it."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from langgraph.runtime import Runtime

import orch
from orch.backends.pool import AgentPool
from orch.errors import ConfigError
from orch.items import Item
from orch.nodes import Merge, MergeConfig, Weigh, WeighConfig
from orch.nodes.context import RunContext
from orch.nodes.profiles import AgentReliability, load_profile, save_profile
from orch.nodes.weighting import debiased, pooled_scores
from orch.records import AgentOutput
from tests.conftest import analyst

LETTERS = ("A", "B", "C", "D")


def out(agent: str, answer: str | None, distribution: dict[str, float] | None = None) -> AgentOutput:
    return AgentOutput(
        agent=agent, node="analyze", kind="analysis", answer=answer, distribution=distribution, path="json"
    )


def best(scores: dict[str, float]) -> str:
    return max(scores, key=scores.__getitem__)


def test_one_informative_agent_outweighs_two_at_chance_that_agree() -> None:
    outputs = [out("strong", "B"), out("mid", "A"), out("weak", "A")]
    scores = pooled_scores(outputs, {"strong": 0.48, "mid": 0.25, "weak": 0.20}, LETTERS)
    assert best(scores) == "B" and scores["A"] == pytest.approx(math.log(0.52 / 3 * 4), abs=1e-5)  # mid, weak add 0
    assert scores["B"] == pytest.approx(math.log(0.48 * 4), abs=1e-5)


def test_equal_reliabilities_are_a_majority_vote_and_better_agents_can_outvote() -> None:
    outputs = [out("strong", "B"), out("mid", "A"), out("weak", "A")]
    assert best(pooled_scores(outputs, dict.fromkeys(("strong", "mid", "weak"), 0.6), LETTERS)) == "A"
    assert best(pooled_scores(outputs, {"strong": 0.9, "mid": 0.4, "weak": 0.4}, LETTERS)) == "B"


def test_position_prior_is_divided_out_of_a_distribution() -> None:
    flat = debiased({"A": 0.55, "B": 0.45, "C": 0.0, "D": 0.0}, [0.7, 0.1, 0.1, 0.1], LETTERS)
    assert best(flat) == "B" and sum(flat.values()) == pytest.approx(1.0)
    outputs = [out("x", "A", {"A": 0.55, "B": 0.45, "C": 0.0, "D": 0.0})]
    plain = pooled_scores(outputs, {"x": 0.6}, LETTERS, use_distributions=True)
    fixed = pooled_scores(outputs, {"x": 0.6}, LETTERS, use_distributions=True, priors={"x": [0.7, 0.1, 0.1, 0.1]})
    assert best(plain) == "A" and best(fixed) == "B"


def test_profiles_are_versioned_and_a_missing_one_fails_when_the_graph_compiles() -> None:
    agents = {"strong": AgentReliability(accuracy=0.8, answered=10)}
    first = save_profile("dev", {"evaluation": "r1"}, agents)
    second = save_profile("dev", {"evaluation": "r2"}, agents)
    assert (first.version, second.version) == (1, 2) and load_profile("dev").version == 2
    assert load_profile("dev@v1").source == {"evaluation": "r1"}
    with pytest.raises(ConfigError, match="no reliability profile 'nope'"):
        Weigh("weigh", WeighConfig(profile="nope"))


def run_node(node: Any, state: dict, pool: AgentPool) -> dict:
    return asyncio.run(node(state, Runtime(context=RunContext(pool=pool))))


def test_a_decisive_weighted_panel_skips_the_merge_call(scripted_pool, item: Item) -> None:
    save_profile(
        "dev",
        {},
        {a: AgentReliability(accuracy=p, answered=50) for a, p in {"strong": 0.8, "mid": 0.3, "weak": 0.25}.items()},
    )
    pool, models = scripted_pool(strong=analyst("C"))
    state = {"item": item.model_dump(), "analyses": [o.model_dump() for o in (out("strong", "C"), out("mid", "A"))]}
    weighed = run_node(Weigh("weigh", WeighConfig(profile="dev")), state, pool)["decision"]
    assert (weighed["answer"], weighed["method"]) == ("C", "weighted") and weighed["margin"] > 1.0
    assert "profile dev@v1" in weighed["note"]
    kept = run_node(Merge("merge", MergeConfig(gate_margin=1.0)), {**state, **{"decision": weighed}}, pool)
    assert (
        kept["decision"]["answer"] == "C" and "merge skipped" in kept["decision"]["note"] and kept["decision"]["gated"]
    )
    assert models["strong"].calls == []
    merged = run_node(Merge("merge", MergeConfig(gate_margin=5.0)), {**state, **{"decision": weighed}}, pool)
    assert merged["decision"]["method"] == "merge" and len(models["strong"].calls) == 1


def test_an_unreadable_merge_falls_back_to_the_weighted_panel(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool(strong="no idea")
    state = {"item": item.model_dump(), "analyses": [o.model_dump() for o in (out("strong", "C"), out("mid", "A"))]}
    weighed = run_node(Weigh("weigh", WeighConfig(weights="equal")), state, pool)["decision"]
    assert weighed["margin"] == 0.0 and weighed["answer"] == "C"  # a tie: strong comes first in the pool
    decision = run_node(Merge("merge", MergeConfig(gate_margin=1.0)), {**state, "decision": weighed}, pool)["decision"]
    assert (decision["answer"], decision["method"]) == ("C", "merge_fallback_weighted")


def test_the_weighted_graph_runs_end_to_end_and_logs_its_decisions(scripted_pool, pool_config) -> None:
    save_profile("mmlu-dev", {}, {"strong": AgentReliability(accuracy=0.8, answered=50)})
    pool, models = scripted_pool(strong=analyst("C"), mid=analyst("A"), weak=analyst("A"))
    item = Item(id="w/1", question="Which?", options=("p", "q", "r", "s"), answer="C")
    session = orch.Session("orch", pool_config)
    with session.start(pool) as runner:
        result = runner.invoke(item)
    assert (result.answer, result.decision.method, result.correct) == ("C", "weighted", True)
    assert len(models["strong"].calls) == 2  # its analysis and its direct answer: no merge call
    assert sorted(o.witness for o in result.analyses) == [
        "mid",
        "mid/direct",
        "strong",
        "strong/direct",
        "weak",
        "weak/direct",
    ]
    assert "not in it (no weight): mid, mid/direct, strong/direct, weak, weak/direct" in result.decision.note


def test_direct_answers_are_witnesses_of_their_own_and_profiles_measure_them_apart(scripted_pool, pool_config) -> None:
    from orch.eval.profile_fit import reliabilities
    from orch.summary import item_row

    direct = AgentOutput(agent="strong", node="answer", kind="direct", answer="A", path="json")
    scores = pooled_scores([out("strong", "B"), direct], {"strong": 0.3, "strong/direct": 0.9}, LETTERS)
    assert best(scores) == "A"  # the letter is trusted, the analysis barely
    save_profile("mmlu-dev", {}, {"strong": AgentReliability(accuracy=0.8, answered=50)})
    pool, _ = scripted_pool(
        strong=analyst("C", merge_answer="A"), mid=analyst("A", merge_answer="C"), weak=analyst("A")
    )
    items = [Item(id=f"w/{i}", question=f"Which {i}?", options=("p", "q", "r", "s"), answer="C") for i in (1, 2)]
    with orch.Session("orch", pool_config).start(pool) as runner:
        results = [runner.invoke(i) for i in items]
    measured = reliabilities(results)
    assert {w: r.accuracy for w, r in measured.items()} == {
        "mid": 0.0,
        "mid/direct": 1.0,
        "strong": 1.0,
        "strong/direct": 0.0,
        "weak": 0.0,
        "weak/direct": 0.0,
    }
    row = item_row(results[0])
    assert (row["answer.strong"], row["answer.strong/direct"]) == ("C", "A")


def test_the_merger_can_see_track_records_most_reliable_first(scripted_pool, item: Item) -> None:
    save_profile(
        "dev",
        {},
        {a: AgentReliability(accuracy=p, answered=40) for a, p in {"strong": 0.55, "mid": 0.3, "weak": 0.2}.items()},
    )
    pool, models = scripted_pool(strong=lambda m, k: '{"answer": "C"}')
    state = {"item": item.model_dump(), "analyses": [o.model_dump() for o in (out("mid", "A"), out("strong", "C"))]}
    run_node(Merge("merge", MergeConfig(track_records="dev")), state, pool)
    prompt = models["strong"].calls[0]["messages"][1].content
    first = prompt.index("Analyst 1 proposes: C [track record: 55% right on 40 earlier questions]")
    assert first < prompt.index("Analyst 2 proposes: A [track record: 30% right")
    with pytest.raises(ConfigError, match="track_records"):
        Merge("merge", MergeConfig(track_records="missing"))


def test_the_routed_weighted_graph_weighs_by_the_routers_emas(
    scripted_pool, pool_config, tmp_path, monkeypatch
) -> None:
    from orch.app.session import RouterOptions

    monkeypatch.setenv("ORCH_ROUTER_STORE", f"sqlite:///{tmp_path / 'router.sqlite'}")
    pool, _ = scripted_pool(strong=analyst("C"), mid=analyst("A"), weak=analyst("C"))
    items = [Item(id=f"r/{i}", question=f"Which {i}?", options=("p", "q", "r", "s"), answer="C") for i in range(4)]
    session = orch.Session("orch-ema-weighted", pool_config)
    with session.start(pool, router=RouterOptions(router_id="w", fresh=True)) as runner:
        results = [runner.invoke(i) for i in items]
    first, last = results[0].decision, results[-1].decision
    assert "router's EMAs" in first.note and first.method in ("weighted", "merge")
    # after three items the router has learned that mid is always wrong: C wins decisively
    assert (last.answer, last.method) == ("C", "weighted") and last.margin is not None and last.margin >= 1.0


def test_a_corrupt_profile_is_named_when_the_graph_compiles(pool_config) -> None:
    from orch.errors import SpecError
    from orch.nodes.profiles import profiles_dir

    path = profiles_dir() / "mmlu-dev" / "v1.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": "mmlu-dev"}')
    with pytest.raises(SpecError, match=r"orch.yaml: nodes.weigh: .*v1.json: not a reliability profile"):
        orch.Session("orch", pool_config)


def test_a_refitted_profile_gives_the_system_a_new_key_so_old_results_are_not_reused(pool_config, item) -> None:
    from orch.eval.plan import EvalPlan, EvalRequest

    save_profile("mmlu-dev", {}, {"strong": AgentReliability(accuracy=0.8, answered=50)})
    request = EvalRequest(benchmark=[item], sample="all", systems="orch-merge,orch")
    first = EvalPlan(request, pool_config)
    keys = [first.system_key(s.graph) for s in first.systems]
    assert sorted(first.systems[1].graph.state_versions) == ["gsm8k-dev", "mmlu-dev", "mmlu-pro-dev"]
    save_profile("mmlu-dev", {}, {"strong": AgentReliability(accuracy=0.7, answered=50)})
    second = EvalPlan(request, pool_config)
    again = [second.system_key(s.graph) for s in second.systems]
    assert again[0] == keys[0] and again[1] != keys[1]  # orch-merge reads no profile: its key stays


def test_a_numeric_question_is_weighed_over_the_numbers_the_witnesses_gave(scripted_pool) -> None:
    save_profile(
        "dev", {}, {a: AgentReliability(accuracy=p, answered=50) for a, p in {"strong": 0.6, "mid": 0.15}.items()}
    )
    pool, _ = scripted_pool()
    number = Item(id="g/1", question="How many?", answer="12", source="gsm8k")
    outputs = [out("strong", "12"), out("mid", "15"), out("weak", "15")]  # weak: not in the profile, no weight
    state = {"item": number.model_dump(), "analyses": [o.model_dump() for o in outputs]}
    decision = run_node(Weigh("weigh", WeighConfig(profile="dev", use="distributions")), state, pool)["decision"]
    assert (decision["answer"], sorted(decision["tally"])) == ("12", ["12", "15"])
    # K = 10: strong's agreement is worth log(0.6 · 9 / 0.4); mid, barely above 1/10, adds little
    assert decision["tally"]["12"] - decision["tally"]["15"] == pytest.approx(decision["margin"])
    assert decision["margin"] > 2.0


def test_items_of_another_source_are_weighed_by_that_sources_profile(scripted_pool, item: Item) -> None:
    save_profile("mmlu", {}, {"strong": AgentReliability(accuracy=0.8, answered=50)})
    save_profile("pro", {}, {"mid": AgentReliability(accuracy=0.8, answered=50)})
    node = Weigh("weigh", WeighConfig(profile="mmlu", by_source={"mmlu-pro": "pro"}))
    assert list(node.state_versions()) == ["mmlu", "pro"]
    pool, _ = scripted_pool()
    outputs = [o.model_dump() for o in (out("strong", "C"), out("mid", "A"))]
    for source, expected in (("mmlu", "C"), ("mmlu-pro", "A")):
        state = {"item": item.model_copy(update={"source": source}).model_dump(), "analyses": outputs}
        decision = run_node(node, state, pool)["decision"]
        assert decision["answer"] == expected and ("pro@v1" in decision["note"]) == (source == "mmlu-pro")


def test_orch_ships_the_profile_its_default_graph_reads_and_yours_comes_first() -> None:
    from orch.nodes.profiles import SHIPPED_DIR

    shipped = load_profile("mmlu-dev")  # the newest shipped version; earlier ones stay loadable by name
    assert shipped.version == 2 and (SHIPPED_DIR / "mmlu-dev" / "v1.json").is_file()
    assert load_profile("mmlu-dev@v1").version == 1
    assert {"qwen-1.5b", "qwen-1.5b/direct", "smollm2-135m/direct"} <= set(shipped.agents)
    for other in ("gsm8k-dev", "mmlu-pro-dev"):  # orch's by_source
        assert {"qwen-1.5b", "qwen-1.5b/direct"} <= set(load_profile(other).agents)
    mine = save_profile("mmlu-dev", {"evaluation": "mine"}, {"strong": AgentReliability(accuracy=0.8, answered=9)})
    assert mine.version == 3 and load_profile("mmlu-dev").source == {"evaluation": "mine"}
    assert load_profile("mmlu-dev@v2").profile_hash == shipped.profile_hash  # the shipped one, still by name
