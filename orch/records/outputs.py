"""What the nodes produce: analyses and direct answers, the decision, and the tasks a fan-out
assigns (with the dispatcher's call that may write them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orch.records.calls import ParsePath, Usage

__all__ = ["AgentOutput", "Analysis", "Decision", "Dispatch", "Task"]


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
    sub_question: str | None = None
    """The dispatcher's item-specific sub-question this analysis focused on (instead of a facet)."""
    note: str = ""
    """How its task was assigned when that differs from what the graph asked for (see `Task.note`)."""
    answer: str | None = None
    confidence: float | None = None
    distribution: dict[str, float] | None = None
    """The agent's probability for each option where it wrote its answer (token log-probabilities,
    see `orch.nodes.distributions`); None when the endpoint sent none."""
    analysis: Analysis | None = None
    reasoning: str | None = None
    path: ParsePath
    raw: str = ""
    error: str | None = None
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def witness(self) -> str:
        """Whose evidence this is, for reliability weights: the agent for an analysis, `<agent>/direct`
        for its direct answer (the two are measured apart: a model's letter and its analysis differ)."""
        return self.agent if self.kind == "analysis" else f"{self.agent}/{self.kind}"


class Decision(BaseModel):
    """The graph's final choice and the rule that made it."""

    model_config = ConfigDict(extra="forbid")

    answer: str | None
    node: str
    method: str
    """The rule that decided. orch's own: `merge`, `merge_fallback_vote`, `merge_fallback_order`,
    `merge_fallback_weighted`, `vote`, `weighted` (a `weigh` node, or a gated merge that did not
    run), `direct`, and `none` (no valid answer); a user's node names its own."""
    agent: str | None = None
    path: ParsePath | None = None
    raw: str = ""
    tally: dict[str, float] = Field(default_factory=dict)
    """Votes (or confidence-weighted votes) per answer behind a vote or a fallback."""
    note: str = ""
    margin: float | None = None
    """A weighted decision's winning score minus the runner-up's (nats): how decisive the panel was."""
    gated: bool = False
    """The merge did not run: the weighted panel was decisive (the merge's `gate_margin`)."""
    error: str | None = None
    """Why the deciding call failed, when it did (the decision then fell back, or has no answer)."""
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0


class Task(BaseModel):
    """One analyst assignment produced by a fan-out: which agent, and what to focus on."""

    agent: str
    slot: int = 0
    facet: str | None = None
    sub_question: str | None = None
    """The dispatcher's item-specific sub-question, which takes a facet's place in the prompt."""
    note: str = ""
    """Why the task is not what the graph asked for, so it is never silent: the dispatcher failed or
    its reply was unreadable (the fixed facet stands in), or the item's source takes no facets."""


class Dispatch(BaseModel):
    """The dispatcher's one call for an item: the sub-questions it wrote, or why they were not used.

    Kept apart from the analyses so merges and votes never read it as one, and counted in the item's
    usage like every other call.
    """

    model_config = ConfigDict(extra="forbid")

    agent: str
    node: str
    sub_questions: list[str] = Field(default_factory=list)
    """Empty when the fixed facets stood in."""
    fallback: str | None = None
    """Why the fixed facets stood in (the call failed, or its reply was unreadable); None when the
    sub-questions were used."""
    raw: str = ""
    error: str | None = None
    """Why the call failed, when it did (the item is then degraded, not failed)."""
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0
