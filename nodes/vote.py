"""`vote`: majority vote over the answers in the state, with a fixed tie-break order."""

from __future__ import annotations

import time
from typing import Literal

from langgraph.runtime import Runtime

from orch.nodes.base import Node, NodeConfig, register_node
from orch.nodes.runtime import RunContext
from orch.nodes.state import Decision, sorted_outputs
from orch.nodes.tally import tally, winner

__all__ = ["Vote", "VoteConfig"]


class VoteConfig(NodeConfig):
    weight: Literal["count", "confidence"] = "count"
    """One vote per answer, or each answer weighted by its analyst's confidence."""


@register_node
class Vote(Node):
    """Most votes wins; a tie goes to the answer of the first agent in the pool's priority order."""

    kind = "vote"
    Config = VoteConfig
    decides = True
    config: VoteConfig

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        started = time.time()
        outputs = sorted_outputs(state)
        votes = tally(outputs, weight=self.config.weight)
        answer, tie_broken = winner(votes, outputs, runtime.context.priority)
        note = "tie broken by agent priority" if tie_broken else ""
        decision = Decision(
            answer=answer,
            node=self.node_id,
            method="vote" if answer else "none",
            tally=votes,
            note=note,
            started_at=started,
            ended_at=time.time(),
        )
        return {"decision": decision.model_dump()}
