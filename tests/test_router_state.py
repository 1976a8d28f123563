"""The router's update rule, utility and ranking against hand-computed values."""

from __future__ import annotations

import pytest

from orch.routers.policy import PRESETS, ColdStart, EmaPolicy, RouterPolicy, resolve_policy
from orch.routers.ranking import decide, utility
from orch.routers.state import AgentStats, Ema, Observation, RouterState, apply, stats_for

PAPER = PRESETS["paper"]


def obs(
    agent: str,
    correct: float | None,
    latency: float | None = 1000.0,
    cost: float | None = 0.0,
    ok: bool | None = True,
    category: str | None = None,
) -> Observation:
    return Observation(
        agent=agent, item_id="i", category=category, correct=correct, latency_ms=latency, cost=cost, ok=ok
    )


def test_ema_update_from_the_fixed_cold_start() -> None:
    policy = EmaPolicy(alpha=0.2)
    ema = Ema(value=0.5)
    ema = ema.update(1.0, policy)
    assert ema.value == pytest.approx(0.6) and ema.n == 1  # 0.8·0.5 + 0.2·1
    ema = ema.update(0.0, policy)
    assert ema.value == pytest.approx(0.48) and ema.n == 2  # 0.8·0.6


def test_bias_corrected_ema_starts_at_the_first_observation() -> None:
    policy = EmaPolicy(alpha=0.2, bias_correction=True)
    ema = Ema(value=0.5).update(1.0, policy)
    assert ema.value == pytest.approx(1.0)  # 0.2 / (1 − 0.8)
    ema = ema.update(0.0, policy)
    assert ema.value == pytest.approx(0.16 / 0.36)  # (0.8·0.2) / (1 − 0.64)


def test_paper_utility_by_hand() -> None:
    stats = AgentStats(
        accuracy=Ema(value=0.6), latency_ms=Ema(value=2500), cost=Ema(value=0.001), stability=Ema(value=1.0)
    )
    assert utility(stats, PAPER) == pytest.approx(0.6 + 0.1 - 0.3 * 0.5 - 0.1 * 0.5)
    slow = stats.model_copy(update={"latency_ms": Ema(value=20_000), "cost": Ema(value=1.0)})
    assert utility(slow, PAPER) == pytest.approx(0.6 + 0.1 - 0.3 * 3 - 0.1 * 3)  # both terms capped at 3


def test_ranking_breaks_ties_by_agent_id_and_takes_top_k() -> None:
    state = RouterState.fresh(PAPER)
    decision = decide(state, PAPER.model_copy(update={"k": 2}), ["zeta", "alpha", "mid"])
    assert decision.ranking == ["alpha", "mid", "zeta"]  # all cold: equal utility, so by id
    assert decision.panel == ["alpha", "mid"] and decision.merger == "alpha"


def test_feedback_moves_the_ranking() -> None:
    state = RouterState.fresh(PAPER)
    for _ in range(3):
        state = apply(state, [obs("alpha", 0.0), obs("beta", 1.0)], PAPER)
    decision = decide(state, PAPER, ["alpha", "beta"])
    assert decision.merger == "beta" and state.version == 3
    assert decision.ema["beta"]["accuracy"] == pytest.approx(1 - 0.5 * 0.8**3)


def test_lexicographic_ranking_prefers_the_faster_of_near_equal_agents() -> None:
    policy = RouterPolicy(ranking="lexicographic", precision=0.05)
    state = RouterState.fresh(policy)
    state = apply(state, [obs("slow", 1.0, latency=9000), obs("fast", 1.0, latency=100)], policy)
    assert decide(state, policy, ["slow", "fast"]).merger == "fast"
    state = apply(state, [obs("slow", 1.0, latency=9000), obs("fast", 0.0, latency=100)], policy)
    assert decide(state, policy, ["slow", "fast"]).merger == "slow"  # accuracy first once it differs


def test_per_category_backs_off_to_global_until_enough_observations() -> None:
    policy = RouterPolicy(ema=EmaPolicy(per_category=True, min_category_n=2), weights={"latency": 0})
    state = RouterState.fresh(policy)
    state = apply(state, [obs("a", 1.0, category="law"), obs("b", 0.0, category="law")], policy)
    state = apply(state, [obs("a", 0.0, category="math"), obs("b", 1.0, category="math")], policy)
    # one observation per category: below min_category_n, both use their (equal) global EMAs
    assert stats_for(state, "a", "math", policy) == state.agents["a"]
    state = apply(state, [obs("a", 0.0, category="math"), obs("b", 1.0, category="math")], policy)
    assert decide(state, policy, ["a", "b"], "math").merger == "b"
    assert stats_for(state, "a", "law", policy) == state.agents["a"]  # law still has 1 observation


def test_delayed_feedback_updates_accuracy_only() -> None:
    state = apply(RouterState.fresh(PAPER), [obs("a", None, latency=500)], PAPER)
    before = state.agents["a"]
    state = apply(state, [obs("a", 1.0, latency=None, cost=None, ok=None)], PAPER)
    after = state.agents["a"]
    assert after.latency_ms == before.latency_ms and after.stability == before.stability
    assert after.accuracy.n == 1 and after.accuracy.value == pytest.approx(0.6)


def test_presets_and_hashes() -> None:
    assert resolve_policy("paper") == PAPER and resolve_policy(None) == PAPER
    assert resolve_policy({"ema": {"alpha": 0.3}}).policy_hash != PAPER.policy_hash
    assert RouterPolicy(ema=EmaPolicy(cold_start=ColdStart(accuracy=0.4))).policy_hash != PAPER.policy_hash
    with pytest.raises(ValueError, match="unknown router preset 'papr'"):
        RouterPolicy.model_validate("papr")
