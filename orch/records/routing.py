"""What a router decided for an item and what the item taught it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FeedbackRecord", "Observation", "RoutingDecision"]


class Observation(BaseModel):
    """What one agent did on one item: the feedback an EMA update consumes."""

    model_config = ConfigDict(frozen=True)

    agent: str
    item_id: str
    category: str | None = None
    correct: float | None = None
    """1 if right, 0 if wrong (the mean over several analyses of one agent); None: no gold (yet)."""
    latency_ms: float | None = None
    cost: float | None = None
    ok: bool | None = None
    """The calls succeeded (stability). None for every signal the observation does not carry:
    delayed feedback brings accuracy alone, since latency and cost were known at prediction time."""


class RoutingDecision(BaseModel):
    """Who analyses and who merges for one item, and the numbers behind it."""

    panel: list[str]
    merger: str
    ranking: list[str]
    probe: list[str] = Field(default_factory=list)
    """Agents outside the panel that also answer directly on this item, only to be observed (the probe)."""
    utilities: dict[str, float]
    ema: dict[str, dict[str, float]]
    """Per agent: the EMA values ranked on (accuracy, latency_ms, cost, stability) and n."""
    state_version: int
    state_hash: str
    category: str | None = None
    router_id: str = ""


class FeedbackRecord(BaseModel):
    """What a routed item taught its router: one observation per agent."""

    source: Literal["answers", "direct"]
    extra_calls: int = 0
    """Calls made only to observe agents (feedback `direct`, or the probe); counted in the item's usage too."""
    probed: list[str] = Field(default_factory=list)
    """Agents outside the panel observed through the probe on this item."""
    observations: list[Observation] = Field(default_factory=list)
