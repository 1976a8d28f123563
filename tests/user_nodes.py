"""A user's own node kind, referenced from a spec by dotted path (`tests.user_nodes:FirstAnswer`)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from orch.nodes import Decision, Node, NodeConfig, RunContext
from orch.nodes.state import sorted_outputs


class FirstAnswerConfig(NodeConfig):
    prefer: str


class FirstAnswer(Node):
    """Take the preferred agent's answer."""

    kind = "first-answer"
    Config = FirstAnswerConfig
    decides = True

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        chosen = next(o for o in sorted_outputs(state) if o.agent == self.config.prefer)
        return {
            "decision": Decision(
                answer=chosen.answer, node=self.node_id, method="vote", note=f"first answer of {chosen.agent}"
            ).model_dump()
        }
