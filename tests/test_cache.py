"""The content-addressed call cache: hits make no call, keys follow content, replay refuses misses."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from orch.app.session import Session
from orch.backends.cache import CallCache, ReplayMiss, call_key
from orch.backends.pool import AgentPool
from orch.items import Item
from orch.testing import ScriptedChatModel
from tests.conftest import analyst


def answer(pool_config, cache: CallCache, item: Item, graph: str = "orch-merge") -> tuple[str | None, dict[str, int]]:
    models = {a: ScriptedChatModel(script=analyst(x)) for a, x in (("strong", "C"), ("mid", "B"), ("weak", "A"))}
    pool = AgentPool.from_chat_models(pool_config, models, cache=cache)
    with Session(graph, pool_config).start(pool) as runner:
        result = runner.invoke(item)
    return result.answer, {agent: len(m.calls) for agent, m in models.items()}


def test_second_run_makes_no_calls_and_gives_the_same_answer(tmp_path: Path, pool_config, item: Item) -> None:
    first = answer(pool_config, CallCache(tmp_path / "calls.sqlite", prompt_version="p"), item)
    assert first == ("C", {"strong": 2, "mid": 1, "weak": 1})
    cache = CallCache(tmp_path / "calls.sqlite", prompt_version="p")
    second = answer(pool_config, cache, item)
    assert second == ("C", {"strong": 0, "mid": 0, "weak": 0})
    assert (cache.stats.hits, cache.stats.misses) == (4, 0)


def test_a_system_sharing_calls_reuses_them(tmp_path: Path, pool_config, item: Item) -> None:
    cache = CallCache(tmp_path / "calls.sqlite", prompt_version="p")
    answer(pool_config, cache, item, graph="vote")  # three direct answers
    _, calls = answer(pool_config, cache, item, graph="single")  # the merger's direct answer, already known
    assert calls == {"strong": 0, "mid": 0, "weak": 0}


def test_cached_calls_keep_their_model_time_but_not_their_clock(tmp_path: Path, pool_config, item: Item) -> None:
    """An item mixing replies cached an hour ago with fresh calls: model time is the original
    calls', but the analysis phase is this item's wall-clock span, not an hour."""
    cache = CallCache(tmp_path / "calls.sqlite", prompt_version="p")
    answer(pool_config, cache, item, graph="vote")
    [(key, agent, completion)] = cache._db.execute("SELECT key, agent, completion FROM calls WHERE agent = 'weak'")
    old = json.loads(completion)  # cached in an earlier session; the others as if this morning
    cache.put(key, agent, {**old, "started_at": old["started_at"] - 3600, "ended_at": old["ended_at"] - 3600})
    models = {a: ScriptedChatModel(script=analyst(x)) for a, x in (("strong", "C"), ("mid", "B"), ("weak", "A"))}
    with Session("vote", pool_config).start(AgentPool.from_chat_models(pool_config, models, cache=cache)) as runner:
        result = runner.invoke(item)
    assert (cache.stats.hits, sum(len(m.calls) for m in models.values())) == (3, 0)
    assert result.analysis_ms < 60_000 and result.wall_ms < 60_000
    assert result.model_ms == sum(a.usage.latency_ms for a in result.analyses)  # the original calls' time


def test_replay_refuses_an_uncached_call(tmp_path: Path, pool_config, item: Item) -> None:
    cache = CallCache(tmp_path / "calls.sqlite", prompt_version="p", replay=True)
    with pytest.raises(ReplayMiss, match=r"replay: agent '(strong|mid|weak)' has no cached reply"):
        answer(pool_config, cache, item)


def test_key_follows_model_params_messages_and_prompt_version() -> None:
    messages = [SystemMessage("s"), HumanMessage("q")]
    base = call_key({"gguf_sha256": "x"}, {"temperature": 0, "seed": 1}, messages, "p1")
    assert base == call_key({"gguf_sha256": "x"}, {"seed": 1, "temperature": 0}, list(messages), "p1")
    assert base != call_key({"gguf_sha256": "y"}, {"temperature": 0, "seed": 1}, messages, "p1")
    assert base != call_key({"gguf_sha256": "x"}, {"temperature": 0, "seed": 2}, messages, "p1")
    assert base != call_key({"gguf_sha256": "x"}, {"temperature": 0, "seed": 1}, [HumanMessage("q")], "p1")
    assert base != call_key({"gguf_sha256": "x"}, {"temperature": 0, "seed": 1}, messages, "p2")


def test_self_consistency_samples_use_distinct_seeds(tmp_path: Path, pool_config, scripted_pool, item: Item) -> None:
    from langgraph.runtime import Runtime

    from orch.nodes import Direct, DirectConfig, RunContext

    pool, models = scripted_pool(strong=lambda m, k: '{"answer": "C"}')
    node = Direct("sc", DirectConfig(agent="strong", samples=3, temperature=0.7))
    update = asyncio.run(node({"item": item.model_dump()}, Runtime(context=RunContext(pool=pool))))
    assert "decision" not in update and [a["slot"] for a in update["analyses"]] == [0, 1, 2]
    sent = [(c["kwargs"]["seed"], c["kwargs"]["temperature"]) for c in models["strong"].calls]
    assert sent == [(pool_config.seed, 0.7), (pool_config.seed + 1, 0.7), (pool_config.seed + 2, 0.7)]
