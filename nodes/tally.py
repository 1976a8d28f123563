"""Counting answers and breaking ties by a fixed, documented rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from orch.records import AgentOutput

__all__ = ["break_tie", "tally", "winner"]

DEFAULT_WEIGHT = 0.5
"""Weight of an answer whose analyst gave no confidence, in a confidence-weighted vote."""


def tally(outputs: Sequence[AgentOutput], weight: Literal["count", "confidence"] = "count") -> dict[str, float]:
    """Votes per answer over outputs that have one; invalid and failed outputs do not vote."""
    votes: dict[str, float] = {}
    for output in outputs:
        if output.answer is None:
            continue
        w = 1.0 if weight == "count" else (output.confidence if output.confidence is not None else DEFAULT_WEIGHT)
        votes[output.answer] = votes.get(output.answer, 0.0) + w
    return dict(sorted(votes.items()))


def break_tie(tied: Sequence[str], outputs: Sequence[AgentOutput], priority: Sequence[str]) -> str:
    """Among tied answers, take the one proposed by the first agent in `priority` order.

    Agents missing from `priority` come after it, by id; answers nobody proposed (impossible in
    practice) fall back to the smallest answer, so the rule is total.
    """
    rank = {agent: i for i, agent in enumerate(priority)}
    proposers = sorted(
        (o for o in outputs if o.answer in tied),
        key=lambda o: (rank.get(o.agent, len(rank)), o.agent, o.slot),
    )
    return proposers[0].answer if proposers else sorted(tied)[0]  # type: ignore[return-value]


def winner(votes: dict[str, float], outputs: Sequence[AgentOutput], priority: Sequence[str]) -> tuple[str | None, bool]:
    """The most-voted answer and whether a tie-break decided it."""
    if not votes:
        return None, False
    best = max(votes.values())
    tied = [answer for answer, v in votes.items() if abs(v - best) < 1e-9]
    if len(tied) == 1:
        return tied[0], False
    return break_tie(tied, outputs, priority), True
