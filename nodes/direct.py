"""`direct`: one agent answers the question itself — the single-model baseline.

With `reasoning_chars > 0` it reasons step by step first (the compute-matched baseline).
Fanned out, each copy only adds its answer to `analyses` (for a vote); alone, it decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from orch.errors import BackendError
from orch.items import Item
from orch.nodes.base import AgentRef, CallLog, Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.nodes.distributions import answer_distribution
from orch.nodes.prompts import direct_system, question_block
from orch.nodes.reading import read_choice
from orch.nodes.schemas import choice_schema, tokens_for
from orch.nodes.state import item_of
from orch.records import AgentOutput, Decision

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from orch.backends.chat import AgentClient

__all__ = ["Direct", "DirectConfig", "answer_directly"]


class DirectConfig(NodeConfig):
    agent: AgentRef | None = None
    """The agent (id or role) when not fanned out."""
    reasoning_chars: int = Field(0, ge=0, le=8000)
    """0: the answer alone. More: bounded step-by-step reasoning before the answer."""
    samples: int = Field(1, ge=1, le=64)
    """More than 1: that many answers from the same agent, with seeds seed, seed+1, … (self-consistency);
    follow the node with a `vote`."""
    temperature: float | None = Field(None, ge=0)
    """Overrides the pool's temperature for this node (self-consistency needs > 0)."""


class Direct(Node[DirectConfig]):
    kind = "direct"
    decides = True

    def writes_decision(self, fanned_out: bool) -> bool:
        return not fanned_out and self.config.samples == 1

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        context = context_of(runtime, self.node_id)
        item = item_of(state)
        agent, slot, fanned_out = self.assigned_agent(state, context)
        client = context.client(agent)
        samples = self.config.samples
        outputs = [
            await answer_directly(
                client,
                item,
                node=self.node_id,
                slot=slot + i,
                reasoning_chars=self.config.reasoning_chars,
                temperature=self.config.temperature,
                seed=None if samples == 1 else client.seed + i,
            )
            for i in range(samples)
        ]
        update: dict = {"analyses": [o.model_dump() for o in outputs]}
        if self.writes_decision(fanned_out):
            output = outputs[0]
            update["decision"] = Decision(
                answer=output.answer,
                node=self.node_id,
                method="direct" if output.answer else "none",
                agent=agent,
                path=output.path,
                raw=output.raw,
                error=output.error,
                started_at=output.started_at,
                ended_at=output.ended_at,
            ).model_dump()
        return update


async def answer_directly(
    client: AgentClient,
    item: Item,
    *,
    node: str,
    slot: int = 0,
    reasoning_chars: int = 0,
    temperature: float | None = None,
    seed: int | None = None,
) -> AgentOutput:
    """One agent answers the question itself (optionally after bounded reasoning); failures are recorded."""
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [
        SystemMessage(direct_system(item, reasoning_chars=reasoning_chars)),
        HumanMessage(question_block(item)),
    ]
    base = {"agent": client.id, "node": node, "kind": "direct", "slot": slot}
    calls = CallLog(client)
    try:
        completion = await calls.complete(
            messages,
            schema=choice_schema(item, reasoning_chars=reasoning_chars),
            schema_name="answer",
            max_tokens=tokens_for(reasoning_chars, 2),
            temperature=temperature,
            seed=seed,
            labels=item.letters if item.kind == "choice" else None,
        )
    except BackendError as exc:
        return AgentOutput(**base, path="error", error=str(exc), **calls.stamp())
    answer, path, fields = read_choice(completion.text, item)
    reasoning = fields.get("reasoning")
    return AgentOutput(
        **base,
        answer=answer,
        distribution=answer_distribution(completion, item),
        path=path,
        raw=completion.text,
        reasoning=reasoning if isinstance(reasoning, str) else None,
        **calls.stamp(),
    )
