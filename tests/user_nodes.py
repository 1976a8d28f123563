"""A user's own node kind, referenced from a spec by dotted path (`tests.user_nodes:FirstAnswer`)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from orch.nodes import Node, NodeConfig, RunContext, analyses_of
from orch.records import Decision


class FirstAnswerConfig(NodeConfig):
    prefer: str


class FirstAnswer(Node[FirstAnswerConfig]):
    """Take the preferred agent's answer."""

    kind = "first-answer"
    decides = True

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        chosen = next(o for o in analyses_of(state) if o.agent == self.config.prefer)
        return {
            "decision": Decision(
                answer=chosen.answer, node=self.node_id, method="first-answer", note=f"first answer of {chosen.agent}"
            ).model_dump()
        }
