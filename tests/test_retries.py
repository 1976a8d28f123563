"""Retries over real HTTP: what may succeed later is retried (429 after its Retry-After, 5xx, a
malformed 200), what will not is not (401, 404), and the completion says how many retries it took."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from orch.backends.http_chat import backoff_s
from orch.backends.pool import AgentPool
from orch.config import load_pool_config
from orch.errors import BackendError
from orch.records import Completion
from tests.fault_server import FaultServer, Reply, Request, completion, fault_server, json_reply


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as srv:
        yield srv


def sequence(*replies: Reply):
    remaining = list(replies)

    def reply(_: Request) -> Reply:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return reply


def call(server: FaultServer, tmp_path: Path, retries: int = 2) -> Completion:
    path = tmp_path / "pool.yaml"
    path.write_text(f"agents:\n  - {{id: x, model: m, base_url: '{server.base_url}', max_retries: {retries}}}\n")
    with AgentPool.start(load_pool_config(path)[0], ["x"]) as pool:
        return asyncio.run(pool.client("x").complete([HumanMessage("hi")], max_tokens=5))


def test_a_429_is_retried_after_its_retry_after(server: FaultServer, tmp_path: Path) -> None:
    limited = Reply(429, '{"error": {"message": "slow down"}}', headers={"Retry-After": "0.3"})
    server.chat = sequence(limited, completion("ok"))
    started = time.perf_counter()
    done = call(server, tmp_path)
    assert time.perf_counter() - started >= 0.3
    assert (done.text, done.retries) == ("ok", 1)
    assert server.hits("/v1/chat/completions") == 2


def test_5xx_and_malformed_replies_are_retried_then_fail_with_the_last_reason(
    server: FaultServer, tmp_path: Path
) -> None:
    server.chat = sequence(json_reply({"error": {"message": "boom"}}, 502), completion(choices=[]), Reply(503, ""))
    with pytest.raises(BackendError, match=r"^agent 'x': HTTP 503 Service Unavailable \(after 3 attempts\)$"):
        call(server, tmp_path)
    assert server.hits("/v1/chat/completions") == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_refusal_is_not_retried(server: FaultServer, tmp_path: Path, status: int) -> None:
    server.chat = json_reply({"error": {"message": "no"}}, status)
    with pytest.raises(BackendError, match=f"HTTP {status} "):
        call(server, tmp_path)
    assert server.hits("/v1/chat/completions") == 1


def test_backoff_honours_retry_after_and_grows_with_jitter_otherwise() -> None:
    rng = random.Random(0)
    assert backoff_s(0, "1.5") == 1.5
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    assert 3.5 < backoff_s(0, soon) <= 5.0
    assert 0.375 <= backoff_s(0, "600", rng=rng) <= 0.5  # beyond 60 s: not waited for, backoff instead
    assert [round(backoff_s(r, rng=random.Random(1)) / min(0.5 * 2**r, 8), 3) for r in range(6)] == [0.966] * 6
    assert all(0.75 * 8 <= backoff_s(9, rng=rng) <= 8 for _ in range(20))


def test_a_given_chat_openai_is_called_over_the_same_path(server: FaultServer) -> None:
    from langchain_openai import ChatOpenAI

    from orch.config import PoolConfig

    config = PoolConfig.model_validate({"agents": [{"id": "x", "model": "m", "base_url": server.base_url}]})
    model = ChatOpenAI(model="given", base_url=server.base_url, api_key="k-given", max_retries=0, extra_body={"z": 1})
    server.chat = completion("fine")
    pool = AgentPool.from_chat_models(config, {"x": model})
    done = asyncio.run(pool.client("x").complete([HumanMessage("hi")], max_tokens=5))
    [request] = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert done.text == "fine" and request.headers["authorization"] == "Bearer k-given"
    assert (request.body["model"], request.body["z"], request.body["max_tokens"]) == ("given", 1, 5)


def test_a_run_counts_its_retries(server: FaultServer, tmp_path: Path) -> None:
    import orch
    from tests.fake_openai import reply_for

    replies = [Reply(503, "")]

    def chat(request: Request) -> Reply:
        if replies:
            return replies.pop()
        return completion(reply_for(request.body["response_format"]["json_schema"]["schema"], "A"))

    server.chat = chat
    path = tmp_path / "pool.yaml"
    path.write_text(f"agents:\n  - {{id: x, model: m, base_url: '{server.base_url}', max_retries: 1}}\n")
    outcome = orch.run([orch.make_item("Which?", ["p", "q"], "A")], graph="single", pool=path)
    assert (outcome.summary.retries, outcome.results[0].usage.retries, outcome.results[0].correct) == (1, 1, True)
