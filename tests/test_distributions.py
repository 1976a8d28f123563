"""Each agent's distribution over the options, from the answer token's log-probabilities: read at
the answer field only, token variants of one label summed, renormalised over the item's labels;
asked for over real HTTP unless the agent turns it off."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

import orch
from orch.backends.logprobs import label_positions
from orch.items import Item
from orch.nodes.distributions import answer_distribution
from orch.records import Completion
from tests.fault_server import FaultServer, Reply, Request, completion, fault_server, json_reply, models_list

ITEM = Item(id="d/1", question="Which?", options=("w", "x", "y", "z"), answer="B")


def token(text: str, alternatives: dict[str, float]) -> dict:
    top = [{"token": t, "logprob": lp} for t, lp in alternatives.items()]
    return {"token": text, "logprob": next(iter(alternatives.values()), 0.0), "top_logprobs": top}


def reply_tokens() -> list[dict]:
    """`{"eliminations": {"A": "no"}, "answer": "B"}` token by token (the note mentions A too)."""
    return [
        token('{"', {'{"': 0.0}),
        token("eliminations", {"eliminations": 0.0}),
        token('": {"', {'": {"': 0.0}),
        token("A", {"A": -0.1, "B": -3.0}),  # a key, not an answer: ignored
        token('": "no"}, "', {'": "no"}, "': 0.0}),
        token("answer", {"answer": 0.0}),
        token('": "', {'": "': 0.0}),
        token("B", {"B": math.log(0.5), " B": math.log(0.1), "A": math.log(0.2), "C": math.log(0.1), "}": -1.0}),
        token('"}', {'"}': 0.0}),
    ]


def test_the_answer_field_gives_the_distribution_with_token_variants_summed() -> None:
    positions = label_positions({"logprobs": {"content": reply_tokens()}}, ITEM.letters)
    assert positions is not None and len(positions) == 2  # A as a key, B as the answer
    text = '{"eliminations": {"A": "no"}, "answer": "B"}'
    dist = answer_distribution(Completion(text=text, label_logprobs=positions), ITEM)
    assert dist == pytest.approx({"A": 0.2 / 0.9, "B": 0.6 / 0.9, "C": 0.1 / 0.9, "D": 0}, abs=1e-5)


def test_no_logprobs_no_distribution() -> None:
    assert label_positions({"message": {"content": "B"}}, ITEM.letters) is None
    assert answer_distribution(Completion(text="B"), ITEM) is None
    bare = label_positions({"logprobs": {"content": [token("B", {"B": -0.2, "C": -1.8})]}}, ITEM.letters)
    dist = answer_distribution(Completion(text="B", label_logprobs=bare), ITEM)
    assert dist is not None and dist["B"] == pytest.approx(math.exp(-0.2) / (math.exp(-0.2) + math.exp(-1.8)))


@pytest.fixture
def server() -> Iterator[FaultServer]:
    def answer(request: Request) -> Reply:
        body = completion(json.dumps({"answer": "B"}))
        if not request.body.get("logprobs"):
            return body
        payload = json.loads(body.body)
        tokens = [token('{"', {'{"': 0.0}), token("answer", {"answer": 0.0}), token('": "', {'": "': 0.0})]
        tokens += [token("B", {"B": math.log(0.7), "D": math.log(0.3)}), token('"}', {'"}': 0.0})]
        payload["choices"][0]["logprobs"] = {"content": tokens}
        return json_reply(payload)

    with fault_server() as srv:
        srv.chat = answer
        srv.models = models_list("m")
        yield srv


@pytest.mark.parametrize("logprobs", [True, False])
def test_a_direct_answer_over_http_carries_its_distribution(
    tmp_path: Path, server: FaultServer, logprobs: bool
) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        f"agents:\n  - {{id: a, model: m, base_url: '{server.base_url}', logprobs: {str(logprobs).lower()}}}\n"
    )
    [result] = orch.run([orch.make_item("Which?", ["w", "x", "y", "z"])], graph="single", pool=pool).results
    [request] = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert (request.body.get("logprobs"), request.body.get("top_logprobs")) == (
        (True, 10) if logprobs else (None, None)
    )
    expected = {"A": 0.0, "B": pytest.approx(0.7), "C": 0.0, "D": pytest.approx(0.3)} if logprobs else None
    assert result.analyses[0].distribution == expected and result.answer == "B"
