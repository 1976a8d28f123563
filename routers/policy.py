"""Router policies: how EMAs update, how agents are ranked, how many are picked.

Small frozen models with a docstring per field. YAML may give a preset name (`paper`,
`paper-lexicographic`) or fields; the hash of the resolved policy is part of every router state,
so a state is never reused under a different policy without saying so.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PRESETS", "ColdStart", "EmaPolicy", "RouterPolicy", "UtilityWeights", "resolve_policy"]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ColdStart(BaseModel):
    """EMA values before any observation (used unless `bias_correction` is on)."""

    model_config = _FROZEN

    accuracy: float = Field(0.5, ge=0, le=1)
    stability: float = Field(1.0, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0)
    cost: float = Field(0.0, ge=0)


class EmaPolicy(BaseModel):
    """The update rule: `ema ← (1 − α)·ema + α·x` for each signal."""

    model_config = _FROZEN

    alpha: float = Field(0.2, gt=0, le=1)
    """Weight of the newest observation (the paper uses 0.2 for all four signals)."""
    bias_correction: bool = False
    """Start from 0 and divide by 1 − (1 − α)^n (Adam-style) instead of the fixed cold-start values."""
    cold_start: ColdStart = ColdStart()
    per_category: bool = False
    """Keep EMAs per category (subject) too, backing off to the agent's global EMAs below `min_category_n`."""
    min_category_n: int = Field(5, ge=1)


class UtilityWeights(BaseModel):
    """`u = q + w_stab·stability − w_lat·min(latency_ms/lat_scale, cap) − w_cost·min(cost/cost_scale, cap)`."""

    model_config = _FROZEN

    stability: float = 0.1
    latency: float = 0.3
    latency_scale_ms: float = Field(5000.0, gt=0)
    cost: float = 0.1
    cost_scale: float = Field(0.002, gt=0)
    cap: float = Field(3.0, gt=0)


class RouterPolicy(BaseModel):
    """Everything that decides a routing: EMA rule, ranking, panel size and feedback window."""

    model_config = _FROZEN

    ema: EmaPolicy = EmaPolicy()
    ranking: Literal["utility", "lexicographic"] = "utility"
    """`utility`: the weighted sum below; `lexicographic`: accuracy (to `precision`), then stability,
    then latency, then cost."""
    weights: UtilityWeights = UtilityWeights()
    precision: float = Field(0.01, gt=0)
    """Lexicographic ranking compares accuracies rounded to this step, so near-ties go to the faster agent."""
    k: int = Field(3, ge=1)
    """Panel size: the top k agents analyse; the top one also merges (and dispatches facets)."""
    window: int = Field(0, ge=0)
    """Item i is routed with exactly the feedback of items before i − window (prequential). 0 is strictly
    sequential; a larger window lets that many items run concurrently, with the same routing at any
    concurrency."""
    feedback: Literal["answers", "direct"] = "answers"
    """`answers`: the gold scores each panel agent's own tentative answer (no extra calls); `direct`: every
    agent also answers directly and is scored (the paper's mode; extra calls, reported)."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in PRESETS:
                raise ValueError(f"unknown router preset {value!r}; presets: {sorted(PRESETS)}")
            return PRESETS[value].model_dump()
        return value

    @property
    def policy_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


PRESETS: dict[str, RouterPolicy] = {
    "paper": RouterPolicy(),
    "paper-lexicographic": RouterPolicy(ranking="lexicographic"),
    "paper-direct": RouterPolicy(feedback="direct"),
}
"""The paper's settings (α = 0.2, utility weights 0.1 / 0.3 / 0.1, k = 3) and its variants."""


def resolve_policy(value: str | dict | RouterPolicy | None) -> RouterPolicy:
    """A policy from a preset name, a dict of fields, or a policy (None: `paper`)."""
    if value is None:
        return PRESETS["paper"]
    if isinstance(value, RouterPolicy):
        return value
    return RouterPolicy.model_validate(value)
