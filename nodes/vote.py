"""`vote`: majority vote over the answers in the state, with a fixed tie-break order."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from orch.nodes.base import Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.nodes.state import analyses_of
from orch.nodes.tally import tally, winner
from orch.records import Decision

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Vote", "VoteConfig"]


class VoteConfig(NodeConfig):
    weight: Literal["count", "confidence"] = "count"
    """One vote per answer, or each answer weighted by its analyst's confidence."""


class Vote(Node[VoteConfig]):
    """Most votes wins; a tie goes to the answer of the first agent in the pool's priority order."""

    kind = "vote"
    decides = True

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        started = time.time()
        outputs = analyses_of(state)
        votes = tally(outputs, weight=self.config.weight)
        answer, tie_broken = winner(votes, outputs, context_of(runtime, self.node_id).priority)
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
