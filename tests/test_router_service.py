"""The router in runs: the same routing at any concurrency, and convergence on a simulated pool."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from orch.app.runner import GraphRunner
from orch.backends.cache import CallCache
from orch.backends.pool import AgentPool
from orch.graphs import Graph, GraphSpec
from orch.items import Item
from orch.nodes.context import RunContext
from orch.records import Observation
from orch.routers.policy import RouterPolicy
from orch.routers.service import RouterService
from orch.routers.state import RouterState
from orch.testing import ScriptedChatModel
from tests.conftest import analyst

ITEMS = [
    Item(
        id=f"t/{i:02d}",
        question=f"q{i}?",
        options=("a", "b", "c", "d"),
        answer="ABCD"[i % 4],
        category="even" if i % 2 == 0 else "odd",
    )
    for i in range(24)
]


def policy_fields(window: int, latency: float) -> dict:
    return {"k": 2, "window": window, "weights": {"latency": latency}}


def routed_spec(window: int, latency: float) -> GraphSpec:
    return GraphSpec.from_dict(
        {
            "name": "ema-test",
            "nodes": {
                "route": {"type": "route", "config": {"policy": policy_fields(window, latency)}},
                "analyze": {"type": "analyze", "fan_out": "panel"},
                "merge": {"type": "merge", "config": {"agent": "merger"}},
                "feedback": {"type": "feedback"},
            },
            "edges": [
                ["START", "route"],
                ["route", "analyze"],
                ["analyze", "merge"],
                ["merge", "feedback"],
                ["feedback", "END"],
            ],
        }
    )


def trace(
    pool_config, concurrency: int, window: int, seed: int, *, latency: float = 0.0, cache: CallCache | None = None
) -> list[tuple]:
    rng = random.Random(seed)

    # strong is right on even items, mid on items divisible by 3, weak never; random delays shuffle arrivals
    def script(agent: str) -> Callable[[list, dict], str]:
        def reply(messages: list, kwargs: dict) -> str:
            text = messages[-1].content
            i = int(text.split("q", 1)[1].split("?", 1)[0])
            right = {"strong": i % 2 == 0, "mid": i % 3 == 0, "weak": False}[agent]
            return analyst("ABCD"[i % 4] if right else "ABCD"[(i + 1) % 4])(messages, kwargs)

        return reply

    models = {
        a: ScriptedChatModel(script=script(a), delay_s=lambda _: rng.uniform(0, 0.01))
        for a in ("strong", "mid", "weak")
    }
    pool = AgentPool.from_chat_models(pool_config, models, concurrency=8, cache=cache)
    graph = Graph(routed_spec(window, latency), pool=pool_config)
    policy = RouterPolicy.model_validate(policy_fields(window, latency))
    service = RouterService(policy, pool_config.agent_ids, RouterState.fresh(policy))
    cast = graph.cast(pool_config)
    context = RunContext(pool=pool, panel=cast.panel, roles=cast.roles, router=service)
    runner = GraphRunner(graph.name, graph.compile(cast), context)
    results = runner.batch(ITEMS, concurrency=concurrency)
    return [(r.item.id, tuple(r.routing.panel), r.routing.merger, r.routing.state_version) for r in results]


@pytest.mark.parametrize("window", [0, 4])
def test_routing_trace_is_identical_at_concurrency_1_and_16(pool_config, window: int) -> None:
    """Routing is a pure function of the observations, folded in item order whatever the arrival order.
    Accuracy, cost and stability are deterministic; measured latency is not, so this live run ranks on
    accuracy alone (the next test covers latency)."""
    sequential = trace(pool_config, concurrency=1, window=window, seed=1)
    concurrent = trace(pool_config, concurrency=16, window=window, seed=2)
    assert sequential == concurrent
    # item i is routed on exactly the feedback of items before i − window
    assert [version for *_, version in sequential] == [max(0, i - window) for i in range(len(ITEMS))]
    late = [merger for _, _, merger, _ in sequential[12:]]
    assert late.count("strong") > len(late) / 2 and "weak" not in late  # it learned who is right


def test_with_latency_in_the_utility_a_cached_rerun_reproduces_the_trace(pool_config, tmp_path) -> None:
    """Latency is measured, so it repeats only when the calls do: a re-run served by the call cache reuses
    the original latencies and gives the same routing at another concurrency."""
    first = trace(
        pool_config,
        concurrency=1,
        window=2,
        seed=1,
        latency=0.3,
        cache=CallCache(tmp_path / "calls.sqlite", prompt_version="p"),
    )
    again = trace(
        pool_config,
        concurrency=16,
        window=2,
        seed=2,
        latency=0.3,
        cache=CallCache(tmp_path / "calls.sqlite", prompt_version="p", replay=True),
    )
    assert first == again


def test_simulated_pool_converges_to_the_best_agents_per_category() -> None:
    """SIMULATION, not a model: agents answer right with fixed, known probabilities per category."""
    accuracy = {"law": {"a": 0.9, "b": 0.5, "c": 0.3, "d": 0.2}, "math": {"a": 0.2, "b": 0.4, "c": 0.9, "d": 0.8}}
    policy = RouterPolicy(
        k=2,
        weights={"latency": 0, "cost": 0, "stability": 0},
        ema={"per_category": True, "min_category_n": 5, "alpha": 0.1},
    )
    service = RouterService(policy, ["a", "b", "c", "d"], RouterState.fresh(policy))
    rng = random.Random(0)
    panels: dict[str, list[tuple[str, ...]]] = {"law": [], "math": []}

    async def run() -> None:
        for i in range(400):
            category = "law" if i % 2 == 0 else "math"
            item = Item(id=f"s/{i}", question="?", options=("x", "y"), answer="A", category=category)
            decision = await service.route(item)
            panels[category].append(tuple(decision.panel))
            service.report(
                item.id,
                [
                    Observation(
                        agent=a,
                        item_id=item.id,
                        category=category,
                        correct=float(rng.random() < accuracy[category][a]),
                        latency_ms=0,
                        cost=0,
                        ok=True,
                    )
                    for a in ("a", "b", "c", "d")
                ],
            )

    asyncio.run(run())
    assert set(panels["law"][-1]) == {"a", "b"} and set(panels["math"][-1]) == {"c", "d"}
    late = panels["law"][-50:] + panels["math"][-50:]
    share = sum(set(p) in ({"a", "b"}, {"c", "d"}) for p in late) / len(late)
    assert share >= 0.8


def test_feedback_counts_once_and_out_of_order_reports_fold_in_order() -> None:
    policy = RouterPolicy(window=0)
    service = RouterService(policy, ["a"], RouterState.fresh(policy))
    service.set_order(["i0", "i1", "i2"])
    o = {
        i: [Observation(agent="a", item_id=i, correct=c, latency_ms=1, cost=0, ok=True)]
        for i, c in (("i0", 1.0), ("i1", 0.0), ("i2", 1.0))
    }
    service.report("i2", o["i2"])
    service.report("i1", o["i1"])
    assert len(service.states) == 1  # waiting for i0
    service.report("i0", o["i0"])
    service.report("i0", o["i0"])  # a second report of the same item changes nothing
    assert len(service.states) == 4
    values = [s.agents["a"].accuracy.value for s in service.states[1:]]
    assert values == pytest.approx([0.6, 0.48, 0.584])


def test_policy_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="was built with policy"):
        RouterService(RouterPolicy(k=1), ["a"], RouterState.fresh(RouterPolicy(k=2)), router_id="r")
