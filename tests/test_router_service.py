"""The router in runs: the same routing at any concurrency, and convergence on a simulated pool."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from orch.app.runner import GraphRunner
from orch.backends.cache import CallCache
from orch.backends.pool import AgentPool
from orch.config import PoolConfig
from orch.graphs import Graph, GraphSpec
from orch.items import Item
from orch.nodes.context import RunContext
from orch.records import Observation
from orch.routers.policy import RouterPolicy
from orch.routers.service import RouterService
from orch.routers.state import RouterState
from orch.testing import ScriptedChatModel
from tests.conftest import analyst, schema_name

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


def routed_spec(window: int, latency: float, policy: dict | None = None) -> GraphSpec:
    return GraphSpec.from_dict(
        {
            "name": "ema-test",
            "nodes": {
                "route": {"type": "route", "config": {"policy": policy or policy_fields(window, latency)}},
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


def run_routed(pool_config: PoolConfig, models: dict, policy: dict, items: list[Item], concurrency: int = 1) -> list:
    pool = AgentPool.from_chat_models(pool_config, models, concurrency=8)
    graph = Graph(routed_spec(0, 0.0, policy), pool=pool_config)
    resolved = RouterPolicy.model_validate(policy)
    service = RouterService(resolved, pool_config.agent_ids, RouterState.fresh(resolved))
    cast = graph.cast(pool_config)
    context = RunContext(pool=pool, panel=cast.panel, roles=cast.roles, router=service)
    results = GraphRunner(graph.name, graph.compile(cast), context).batch(items, concurrency=concurrency)
    return [*results, service]


def test_the_probe_asks_an_agent_outside_the_panel_and_counts_the_call(pool_config) -> None:
    """With `answers` feedback and k below the pool, every 2nd item one outsider answers directly and is
    observed; the trace (probe included) is the same at concurrency 1 and 8."""
    policy = {"k": 2, "probe_every": 2, "weights": {"latency": 0}}
    runs = []
    for concurrency in (1, 8):
        models = {a: ScriptedChatModel(script=analyst("C")) for a in ("strong", "mid", "weak")}
        *results, service = run_routed(pool_config, models, policy, ITEMS[:6], concurrency)
        runs.append([(r.routing.panel, r.routing.probe, r.feedback.probed) for r in results])
    assert runs[0] == runs[1]
    for (panel, probe, probed), result in zip(runs[0], results, strict=True):
        index = int(result.item.id.split("/")[1])
        outsiders = [a for a in ("mid", "strong", "weak") if a not in panel]
        assert probe == probed == ([] if index % 2 == 0 else outsiders)
        direct = [a for a in result.analyses if a.node == "feedback"]
        assert [a.agent for a in direct] == probe and all(a.kind == "direct" for a in direct)
        assert result.feedback.extra_calls == len(probe)
        assert result.usage.calls == 2 + 1 + len(probe)  # two analyses, the merge, the probe
        assert sorted(o.agent for o in result.feedback.observations) == sorted([*panel, *probe])
    (outsider,) = runs[0][1][1]
    assert service.state.last_seen[outsider] >= 2  # item 1's probe was folded into the router


def failing_pool(circuit_failures: int) -> PoolConfig:
    agents = [
        {"id": a, "model": f"m-{a}", "base_url": "http://127.0.0.1:9/v1", "circuit_failures": circuit_failures}
        for a in ("strong", "mid", "weak")
    ]
    return PoolConfig.model_validate({"agents": agents, "panel": ["strong", "mid", "weak"]})


def test_failed_and_refused_calls_lower_stability_and_teach_no_latency() -> None:
    """`weak` always fails; after 2 failures its circuit opens and refuses without calling it. Every
    failed or refused call is an observation with ok=False; a failed call's 0 ms is not a latency."""
    models = {a: ScriptedChatModel(script=analyst("C")) for a in ("strong", "mid")}
    models["weak"] = ScriptedChatModel(script=lambda *_: ConnectionError("refused"))
    *results, service = run_routed(failing_pool(2), models, {"k": 3, "weights": {"latency": 0}}, ITEMS[:4])
    assert len(models["weak"].calls) == 2  # items 2 and 3 were refused by the open circuit
    assert "circuit open" in next(a.error for a in results[3].analyses if a.agent == "weak")
    weak = [next(o for o in r.feedback.observations if o.agent == "weak") for r in results]
    assert [(o.ok, o.latency_ms, o.cost) for o in weak] == [(False, None, None)] * 4
    assert [o.correct for o in weak] == [None] * 4  # a failure is counted once: by stability, not as wrong
    stats = service.state.agents["weak"]
    assert stats.accuracy.n == 0
    assert stats.stability.value == pytest.approx(0.8**4) and stats.stability.n == 4
    assert stats.latency_ms.n == 0 and service.state.agents["strong"].stability.value == 1.0


def test_a_failed_merge_call_lowers_the_mergers_stability(pool_config) -> None:
    def no_merge(answer: str) -> Callable[[list, dict], object]:
        ok = analyst(answer)
        return lambda m, kw: ConnectionError("merge down") if schema_name(kw) == "merge" else ok(m, kw)

    models = {a: ScriptedChatModel(script=no_merge("C")) for a in ("strong", "mid", "weak")}
    *results, _ = run_routed(pool_config, models, {"k": 3, "weights": {"latency": 0}}, ITEMS[2:3])
    (result,) = results
    assert result.decision.method.startswith("merge_fallback")
    ok = {o.agent: o.ok for o in result.feedback.observations}
    assert ok == {a: a != result.routing.merger for a in ("mid", "strong", "weak")}
    merger = next(o for o in result.feedback.observations if o.agent == result.routing.merger)
    assert merger.correct == 1.0 and merger.latency_ms is not None  # its analysis still counts
