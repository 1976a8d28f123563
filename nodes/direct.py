"""`direct`: one agent answers the question itself — the single-model baseline.

With `reasoning_chars > 0` it reasons step by step first (the compute-matched baseline).
Fanned out, each copy only adds its answer to `analyses` (for a vote); alone, it decides.
"""

from __future__ import annotations

import time

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import Field

from orch.errors import BackendError
from orch.nodes.base import Node, NodeConfig, register_node
from orch.nodes.calls import usage_of
from orch.nodes.prompts import direct_system, question_block
from orch.nodes.reading import read_choice
from orch.nodes.runtime import RunContext, resolve_agent
from orch.nodes.schemas import choice_schema, tokens_for
from orch.nodes.state import AgentOutput, Decision, item_of

__all__ = ["Direct", "DirectConfig"]


class DirectConfig(NodeConfig):
    agent: str | None = None
    """The agent (id or role) when not fanned out."""
    reasoning_chars: int = Field(0, ge=0, le=8000)
    """0: the answer alone. More: bounded step-by-step reasoning before the answer."""


@register_node
class Direct(Node):
    kind = "direct"
    Config = DirectConfig
    decides = True
    agent_fields = ("agent",)
    config: DirectConfig

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        item = item_of(state)
        fanned_out = "agent" in state
        if fanned_out:
            agent, slot = state["agent"], state.get("slot", 0)
        elif self.config.agent:
            agent, slot = resolve_agent(self.config.agent, state, runtime.context), 0
        else:
            raise ValueError(f"node {self.node_id!r}: set config.agent or fan the node out over the panel")
        messages = [
            SystemMessage(direct_system(item, reasoning_chars=self.config.reasoning_chars)),
            HumanMessage(question_block(item)),
        ]
        base = {"agent": agent, "node": self.node_id, "kind": "direct", "slot": slot}
        started = time.time()
        try:
            completion = await runtime.context.client(agent).complete(
                messages,
                schema=choice_schema(item, reasoning_chars=self.config.reasoning_chars),
                schema_name="answer",
                max_tokens=tokens_for(self.config.reasoning_chars, 2),
            )
        except BackendError as exc:
            output = AgentOutput(**base, path="error", error=str(exc), started_at=started, ended_at=time.time())
        else:
            answer, path, fields = read_choice(completion.text, item)
            reasoning = fields.get("reasoning")
            output = AgentOutput(
                **base,
                answer=answer,
                path=path,
                raw=completion.text,
                reasoning=reasoning if isinstance(reasoning, str) else None,
                usage=usage_of(completion),
                started_at=completion.started_at,
                ended_at=completion.ended_at,
            )
        update: dict = {"analyses": [output.model_dump()]}
        if not fanned_out:
            update["decision"] = Decision(
                answer=output.answer,
                node=self.node_id,
                method="direct" if output.answer else "none",
                agent=agent,
                path=output.path,
                raw=output.raw,
                note=output.error or "",
                started_at=output.started_at,
                ended_at=output.ended_at,
            ).model_dump()
        return update
