"""The circuit breaker: opens after consecutive failures, refuses without a request while open,
lets one trial call through after the cool-down, and closes on its success — over real HTTP too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from orch.backends.breaker import CircuitBreaker
from orch.backends.pool import AgentPool
from orch.config import load_pool_config
from orch.errors import BackendError
from tests.fault_server import completion, fault_server, json_reply


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_and_recovers_after_a_trial() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert breaker.refusal() is None
        breaker.record(ok=False)
    breaker.record(ok=True)  # a success resets the count
    for _ in range(3):
        assert breaker.refusal() is None
        breaker.record(ok=False)
    assert breaker.state == "open"
    assert "circuit open after 3 failed calls" in (breaker.refusal() or "")
    clock.now = 10.0
    assert breaker.state == "half-open"
    assert breaker.refusal() is None  # the one trial call
    assert breaker.refusal() is not None  # no second call while the trial is out
    breaker.record(ok=False)  # the trial failed: open again, for a full cool-down
    assert breaker.state == "open" and breaker.refused == 2
    clock.now = 20.0
    assert breaker.refusal() is None
    breaker.abandon()  # the trial was cancelled: the next call is the trial
    assert breaker.refusal() is None
    breaker.record(ok=True)
    assert breaker.state == "closed" and breaker.refusal() is None


def test_an_open_circuit_sends_no_request(tmp_path: Path) -> None:
    with fault_server() as server:
        server.chat = json_reply({"error": {"message": "down"}}, 503)
        path = tmp_path / "pool.yaml"
        path.write_text(
            f"agents:\n  - {{id: x, model: m, base_url: '{server.base_url}', max_retries: 0, "
            "circuit_failures: 2, circuit_cooldown_s: 60}\n"
        )
        config = load_pool_config(path)[0]
        with AgentPool.start(config, ["x"]) as pool:
            client = pool.client("x")

            async def calls() -> list[str]:
                reasons = []
                for _ in range(4):
                    with pytest.raises(BackendError) as raised:
                        await client.complete([HumanMessage("hi")], max_tokens=5)
                    reasons.append(str(raised.value))
                return reasons

            reasons = asyncio.run(calls())
            assert server.hits("/v1/chat/completions") == 2
            assert reasons[0] == "agent 'x': HTTP 503 Service Unavailable: down"
            assert reasons[2].startswith("agent 'x': circuit open after 2 failed calls in a row; not called")
            server.chat = completion("fine")
            assert client.breaker.state == "open"
