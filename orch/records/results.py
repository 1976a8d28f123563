"""A finished item: everything one run of a graph produced, and its status."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field

from orch.items import Item
from orch.records.calls import Usage
from orch.records.outputs import AgentOutput, Decision, Dispatch
from orch.records.routing import FeedbackRecord, RoutingDecision

__all__ = ["ItemResult", "ItemStatus"]

ItemStatus = Literal["ok", "degraded", "failed"]
"""`ok`: every call succeeded. `degraded`: some call failed but an answer was still decided (an
analyst missing, a merge that fell back to the vote). `failed`: calls failed and no answer was
decided — never stored as a finished result, so the next run retries the item."""


class ItemResult(BaseModel):
    """Everything one item's run produced, flat enough for a table row."""

    item: Item
    graph: str
    answer: str | None
    correct: bool | None
    """None when the item has no gold answer, or failed (a failure is not scored as a wrong answer)."""
    decision: Decision
    analyses: list[AgentOutput]
    """In (agent id, slot) order, whatever order the calls finished in."""
    panel: list[str]
    """The analysts this item actually had (the router's choice for a routed graph)."""
    roles: dict[str, str]
    """The roles this item actually had (a routed graph's merger is the router's choice)."""
    wall_ms: float = Field(validation_alias=AliasChoices("wall_ms", "latency_ms"))
    """Wall time of the whole graph call (includes waiting for budget slots and other items)."""
    analysis_ms: float
    """From the first analysis (or fanned-out answer) call's start to the last one's end."""
    decision_ms: float
    """Duration of the deciding step: the merge call, a single direct answer, or a vote (~0)."""
    usage: Usage
    routing: RoutingDecision | None = None
    """The router's decision for this item, if routed."""
    feedback: FeedbackRecord | None = None
    """The observations the router learned from this item, if routed."""
    dispatch: Dispatch | None = None
    """The dispatcher's call, for graphs whose `decompose` node asks one for sub-questions."""
    status: ItemStatus = "ok"
    failures: list[str] = Field(default_factory=list)
    """One reason per failed call (`agent: why`), for a degraded or failed item."""

    @property
    def valid(self) -> bool:
        return self.answer is not None

    def shown_as(self, output: AgentOutput) -> str:
        """An output's name in tables and summaries: its agent, or its witness (`<agent>/direct`)
        where direct answers stand beside analyses."""
        return output.witness if len({a.kind for a in self.analyses}) > 1 else output.agent

    @property
    def model_ms(self) -> float:
        """Model time: the item's calls summed (cached calls count their original time). The one
        latency orch reports, in MLflow and in evaluation reports alike."""
        return self.usage.latency_ms
