"""What a model call returned and what calls cost: the bottom of the records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Completion", "LabelLogprobs", "ParsePath", "Usage"]

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


class Completion(BaseModel):
    """What one model call returned, with its measured cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    """Time inside the call, after a budget slot was granted."""
    queued_ms: float = 0.0
    """Time spent waiting for a budget slot."""
    cost: float = 0.0
    finish_reason: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    """When the call ran; for a cached reply, the moment it was read (an item's phases are spans of
    these, so a reply cached hours ago does not make its analyses take hours)."""
    cached: bool = False
    """Served from the call cache: no model ran; tokens, cost and latency are the original call's."""
    retries: int = 0
    """Attempts that failed (429, 5xx, timeouts, malformed replies...) before this one succeeded."""
    label_logprobs: list[LabelLogprobs] | None = None
    """Where the reply wrote an option label, the labels' log-probabilities (asked for with
    `labels`); None when they were not asked for or the endpoint sent none."""


class LabelLogprobs(BaseModel):
    """One position of a reply where the model wrote an option label: the text before it and the
    log-probability of each label among the endpoint's top alternatives there."""

    model_config = ConfigDict(frozen=True)

    before: str
    """Up to 40 characters of the reply before this token (to tell an answer from a mention)."""
    logprobs: dict[str, float]


class Usage(BaseModel):
    """Tokens, cost and model time of the calls behind one record."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    queued_ms: float = 0.0
    retries: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    @classmethod
    def of(cls, completions: Iterable[Completion]) -> Usage:
        """The summed usage of some calls: the one place a node's bookkeeping is added up."""
        total = cls()
        for c in completions:
            total = total + cls(
                calls=1,
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
                cost=c.cost,
                latency_ms=c.latency_ms,
                queued_ms=c.queued_ms,
                retries=c.retries,
            )
        return total
