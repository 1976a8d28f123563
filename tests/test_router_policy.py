"""Router policy settings: first-observation EMAs, the exact lexicographic order, a latency scale
relative to the pool, the merger by accuracy and the probe that lets agents re-enter the panel."""

from __future__ import annotations

import random

import pytest

from orch.items import Item
from orch.records import Observation
from orch.routers.policy import PRESETS, EmaPolicy, RouterPolicy
from orch.routers.ranking import decide, pool_scales, utility
from orch.routers.replay import AgentLog, replay
from orch.routers.state import AgentStats, Ema, RouterState, apply

LOCAL = {"qwen-1.5b": (0.50, 12_000.0), "qwen-0.5b": (0.25, 5_000.0), "smollm2": (0.22, 2_400.0)}
"""The embedded CPU pool as measured: (accuracy, latency per call in ms)."""


def state_of(pool: dict[str, tuple[float, float]], policy: RouterPolicy, n: int = 20) -> RouterState:
    def ema(value: float) -> Ema:
        return Ema(value=value, raw=value, n=n)

    agents = {
        a: AgentStats(accuracy=ema(q), latency_ms=ema(lat), cost=ema(0.0), stability=ema(1.0))
        for a, (q, lat) in pool.items()
    }
    return RouterState(policy_hash=policy.policy_hash, agents=agents, version=n)


def obs(agent: str, correct: float, latency: float = 100.0, ok: bool = True, item: str = "i") -> Observation:
    return Observation(agent=agent, item_id=item, correct=correct, latency_ms=latency, cost=0.0, ok=ok)


def test_first_observation_init_starts_each_ema_at_its_first_value() -> None:
    policy = EmaPolicy(init="first_observation")
    ema = Ema(value=0.5).update(1.0, policy)
    assert ema.value == 1.0 and ema.n == 1  # not 0.8·0.5 + 0.2·1 = 0.6
    ema = ema.update(0.0, policy)
    assert ema.value == pytest.approx(0.8)
    state = apply(RouterState.fresh(PRESETS["paper-exact"]), [obs("a", 0.0, latency=7000)], PRESETS["paper-exact"])
    stats = state.agents["a"]
    assert (stats.accuracy.value, stats.latency_ms.value, stats.stability.value) == (0.0, 7000.0, 1.0)


def test_first_observation_and_bias_correction_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        EmaPolicy(init="first_observation", bias_correction=True)


def test_exact_lexicographic_order_is_accuracy_latency_cost_stability() -> None:
    exact, rounded = PRESETS["paper-exact"], PRESETS["paper-lexicographic"]
    pool = {"close": (0.601, 9000.0), "fast": (0.6, 100.0)}
    # rounded to 0.01 the two tie and the faster one wins; exact accuracy decides first
    assert decide(state_of(pool, rounded), rounded, list(pool)).merger == "fast"
    assert decide(state_of(pool, exact), exact, list(pool)).merger == "close"
    # equal accuracy: the paper compares latency before stability, orch's lexicographic stability first
    state = state_of({"steady": (0.6, 900.0), "flaky": (0.6, 100.0)}, exact)
    flaky = state.agents["flaky"].model_copy(update={"stability": Ema(value=0.5, n=20)})
    state = state.model_copy(update={"agents": {**state.agents, "flaky": flaky}})
    assert decide(state, exact, ["steady", "flaky"]).ranking == ["flaky", "steady"]
    assert decide(state, rounded, ["steady", "flaky"]).ranking == ["steady", "flaky"]


def test_order_must_name_each_signal_once() -> None:
    with pytest.raises(ValueError, match="order must list"):
        RouterPolicy(order=("accuracy", "accuracy", "cost", "stability"))


def test_on_a_cpu_pool_the_accurate_agent_merges() -> None:
    """The paper's fixed 5 s scale makes smollm2 the merger; relative latency or merger-by-accuracy do not."""
    agents = list(LOCAL)
    paper = PRESETS["paper"]
    assert decide(state_of(LOCAL, paper), paper, agents).merger == "smollm2"
    relative = RouterPolicy(weights={"latency_reference": "pool_max"})
    decision = decide(state_of(LOCAL, relative), relative, agents)
    assert decision.ranking == ["qwen-1.5b", "smollm2", "qwen-0.5b"] and decision.merger == "qwen-1.5b"
    assert decision.utilities["qwen-1.5b"] == pytest.approx(0.5 + 0.1 - 0.3)  # 12 s is the pool's max
    assert decision.utilities["smollm2"] == pytest.approx(0.22 + 0.1 - 0.3 * 2400 / 12000)
    orch = PRESETS["orch"]
    assert decide(state_of(LOCAL, orch), orch, agents).merger == "qwen-1.5b"


def test_merger_by_accuracy_is_separate_from_the_ranking_and_joins_the_panel() -> None:
    policy = RouterPolicy(merger="accuracy", k=2)
    decision = decide(state_of(LOCAL, policy), policy, list(LOCAL))
    assert decision.ranking == ["smollm2", "qwen-0.5b", "qwen-1.5b"]  # paper utility: fast first
    assert decision.merger == "qwen-1.5b" and decision.panel == ["smollm2", "qwen-1.5b"]


def test_merger_ties_go_to_the_ranking_then_the_id() -> None:
    policy = RouterPolicy(merger="accuracy")
    tied = {"b": (0.5, 1000.0), "a": (0.5, 1000.0), "fast": (0.5, 10.0)}
    assert decide(state_of(tied, policy), policy, list(tied)).merger == "fast"  # higher utility
    same = {"b": (0.5, 1000.0), "a": (0.5, 1000.0)}
    assert decide(state_of(same, policy), policy, list(same)).merger == "a"


def test_pool_scales_follow_the_candidates_and_a_zero_scale_adds_nothing() -> None:
    policy = RouterPolicy(weights={"latency_reference": "pool_max", "cost_reference": "pool_max"})
    state = state_of(LOCAL, policy)
    assert pool_scales(state.agents, policy) == (12_000.0, 0.0)
    assert utility(state.agents["smollm2"], policy, pool_scales(state.agents, policy)) == pytest.approx(0.26)
    assert pool_scales(state.agents, PRESETS["paper"]) == (5000.0, 0.002)


def run_answers_feedback(policy: RouterPolicy, rate: dict[str, list[float]], items: int) -> list:
    """Prequential routing where only the panel and the probe are observed (feedback `answers`)."""
    rng = random.Random(0)
    agents = sorted(rate)
    states, decisions = [RouterState.fresh(policy)], []
    for i in range(items):
        decision = decide(states[-1], policy, agents, index=i)
        decisions.append(decision)
        phase = 0 if i < items // 2 else 1
        seen = sorted({*decision.panel, *decision.probe})
        observed = [obs(a, float(rng.random() < rate[a][phase]), item=f"s/{i}") for a in seen]
        states.append(apply(states[-1], observed, policy))
    return decisions


def test_an_agent_left_out_of_the_panel_is_probed_and_re_enters() -> None:
    """SIMULATION: `a_late` (first by id, so observed first) is wrong at first, then always right;
    `b_early` the opposite; `c_steady` right 80% of the time. EMAs start at their first observation."""
    rate = {"a_late": [0.0, 1.0], "b_early": [0.9, 0.1], "c_steady": [0.8, 0.8]}
    base = RouterPolicy(k=1, ema={"init": "first_observation"}, weights={"latency": 0, "cost": 0, "stability": 0})
    without = run_answers_feedback(base, rate, 120)
    assert without[0].merger == "a_late" and all(d.probe == [] for d in without)
    assert "a_late" not in {d.merger for d in without[1:]}  # left out after one bad item, never seen again
    probed = run_answers_feedback(base.model_copy(update={"probe_every": 3}), rate, 120)
    assert [i for i, d in enumerate(probed[:12]) if d.probe] == [2, 5, 8, 11]  # every 3rd item
    assert all(len(d.probe) == 1 and d.probe[0] not in d.panel for d in probed if d.probe)
    assert {d.probe[0] for d in probed[:60] if d.probe} == {"a_late", "c_steady"}  # both outsiders, in turn
    assert [d.merger for d in probed[-20:]].count("a_late") >= 18


def test_the_probe_asks_the_least_recently_observed_outsider() -> None:
    policy = RouterPolicy(k=1, probe_every=1)
    state = RouterState.fresh(policy)
    state = apply(state, [obs("a", 1.0), obs("c", 0.0)], policy)  # b never observed
    assert decide(state, policy, ["a", "b", "c"], index=0).probe == ["b"]
    state = apply(state, [obs("a", 1.0), obs("b", 0.0)], policy)
    assert state.last_seen == {"a": 2, "b": 2, "c": 1}
    assert decide(state, policy, ["a", "b", "c"], index=1).probe == ["c"]
    assert decide(state, policy.model_copy(update={"feedback": "direct"}), ["a", "b", "c"], index=1).probe == []


def test_replay_observes_the_probe_like_a_live_run() -> None:
    items = [Item(id=f"r/{i}", question="?", options=("x", "y"), answer="A") for i in range(10)]
    log = {a: [AgentLog(answer="A", latency_ms=10.0, cost=0.0, ok=True) for _ in items] for a in ("a", "b", "c")}
    result = replay("probe", RouterPolicy(k=1, probe_every=2), items, log)
    assert sum(bool(d.probe) for d in result.decisions) == 5
    assert result.states[-1].agents["b"].n + result.states[-1].agents["c"].n == 5


def test_existing_presets_and_persisted_states_keep_their_hashes() -> None:
    """Fields added since keep out of the hash at their defaults: routers persisted before still load."""
    assert {name: PRESETS[name].policy_hash for name in ("paper", "paper-lexicographic", "paper-direct")} == {
        "paper": "98bad496f066a80f",
        "paper-lexicographic": "40cd42a63cc57981",
        "paper-direct": "413b8c68690ab587",
    }
    old = (
        '{"schema_version":1,"policy_hash":"98bad496f066a80f","version":1,"agents":{"a":{"accuracy":'
        '{"value":0.6000000000000001,"raw":0.2,"n":1},"latency_ms":{"value":20.0,"raw":20.0,"n":1},'
        '"cost":{"value":0.0,"raw":0.0,"n":1},"stability":{"value":1.0,"raw":0.2,"n":1}}},'
        '"categories":{},"applied":["r/i"]}'
    )
    assert RouterState.model_validate_json(old).state_hash == "f0264864cc31f67a"  # as written before
    assert len({p.policy_hash for p in PRESETS.values()}) == len(PRESETS)
    assert RouterPolicy(probe_every=1).policy_hash != PRESETS["paper"].policy_hash
