"""What flows through an orch graph: the state channels and the records nodes write into them.

Channels hold plain `model_dump()` dicts so any LangGraph checkpointer can store them; nodes
validate them back into these models on entry.
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from orch.items import Item

__all__ = [
    "AgentOutput",
    "Analysis",
    "Decision",
    "OrchState",
    "ParsePath",
    "Task",
    "Usage",
    "item_of",
    "sorted_outputs",
]

ParsePath = Literal[
    "json",  # the structured reply parsed as sent (strict JSON)
    "json_tolerant",  # JSON repaired (fences, prose around it, cut by max_tokens)
    "answer_line",  # no usable JSON; a clear "Answer: X" statement
    "bare",  # the reply was just the letter
    "last_number",  # numeric items: the last number in the text
    "choice_step",  # the analysis had no answer; a second, constrained call chose one
    "invalid",  # nothing readable: counted as invalid, never mapped to an option
    "error",  # the call itself failed (timeout, refused connection, 5xx)
]


class Usage(BaseModel):
    """Tokens, cost and time of the calls behind one record."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    queued_ms: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class Analysis(BaseModel):
    """One analyst's structured analysis; its field descriptions are the prompt's vocabulary."""

    key_points: list[str] = Field(default_factory=list, description="the facts or steps that decide the question")
    eliminations: dict[str, str] = Field(
        default_factory=dict, description="per option letter, why that option is right or wrong"
    )
    answer: str | None = Field(None, description="the option letter (or number) the analyst believes")
    confidence: float | None = Field(None, ge=0, le=1, description="0 to 1")


class AgentOutput(BaseModel):
    """An analysis or a direct answer, with where it came from and how it was read."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    node: str
    kind: Literal["analysis", "direct"]
    slot: int = 0
    """Position of the task within its fan-out: one agent may write several analyses (facets)."""
    facet: str | None = None
    answer: str | None = None
    confidence: float | None = None
    analysis: Analysis | None = None
    reasoning: str | None = None
    path: ParsePath
    raw: str = ""
    error: str | None = None
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0


class Decision(BaseModel):
    """The graph's final choice and the rule that made it."""

    model_config = ConfigDict(extra="forbid")

    answer: str | None
    node: str
    method: Literal["merge", "merge_fallback_vote", "merge_fallback_order", "vote", "direct", "none"]
    agent: str | None = None
    path: ParsePath | None = None
    raw: str = ""
    tally: dict[str, float] = Field(default_factory=dict)
    """Votes (or confidence-weighted votes) per answer behind a vote or a fallback."""
    note: str = ""
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0


class Task(BaseModel):
    """One analyst assignment produced by a fan-out: which agent, which facet."""

    agent: str
    slot: int = 0
    facet: str | None = None


class OrchState(TypedDict, total=False):
    """The graph state. `analyses` has a reducer: fanned-out nodes append, in any order."""

    item: dict
    panel: list[str]
    roles: dict[str, str]
    tasks: list[dict]
    analyses: Annotated[list[dict], operator.add]
    decision: dict
    routing: dict
    feedback: dict


def item_of(state: dict) -> Item:
    return Item.model_validate(state["item"])


def sorted_outputs(state: dict) -> list[AgentOutput]:
    """Analyses sorted by (agent id, slot): LangGraph does not order parallel writes."""
    outputs = [AgentOutput.model_validate(a) for a in state.get("analyses", [])]
    return sorted(outputs, key=lambda o: (o.agent, o.slot, o.node))
