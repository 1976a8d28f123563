"""Router policies: how EMAs update, how agents are ranked, how many are picked.

Small frozen models with a docstring per field. YAML may give a preset name (`paper`, `orch`,
`paper-exact`, …) or fields; the hash of the resolved policy is part of every router state, so a
state is never reused under a different policy without saying so.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PRESETS",
    "ColdStart",
    "EmaPolicy",
    "RouterPolicy",
    "Signal",
    "UtilityWeights",
    "resolve_policy",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True)

Signal = Literal["accuracy", "latency_ms", "cost", "stability"]
"""The four EMAs; accuracy and stability rank high-first, latency and cost low-first."""


class ColdStart(BaseModel):
    """EMA values before any observation. With `bias_correction` or `init: first_observation` they only
    rank agents not yet observed, since the first observation then becomes the estimate."""

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
    init: Literal["cold_start", "first_observation"] = "cold_start"
    """`cold_start`: the first update blends the cold-start value with the observation;
    `first_observation`: each EMA starts at its first observation (the authors' scripts)."""
    cold_start: ColdStart = ColdStart()
    per_category: bool = False
    """Keep EMAs per category (subject) too, backing off to the agent's global EMAs below `min_category_n`."""
    min_category_n: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _one_start(self) -> EmaPolicy:
        if self.bias_correction and self.init == "first_observation":
            raise ValueError("ema: choose bias_correction or init: first_observation, not both")
        return self


class UtilityWeights(BaseModel):
    """`u = q + w_stab·stability − w_lat·min(latency_ms/lat_scale, cap) − w_cost·min(cost/cost_scale, cap)`."""

    model_config = _FROZEN

    stability: float = 0.1
    latency: float = 0.3
    latency_scale_ms: float = Field(5000.0, gt=0)
    """The reference latency when `latency_reference` is `fixed` (the paper's 5 s, tuned for APIs)."""
    latency_reference: Literal["fixed", "pool_max"] = "fixed"
    """`fixed`: divide by `latency_scale_ms`; `pool_max`: by the largest latency EMA among the candidates,
    so the term lies in [0, w_lat] on any pool (a CPU pool's 12 s calls do not swamp accuracy)."""
    cost: float = 0.1
    cost_scale: float = Field(0.002, gt=0)
    """The reference cost per item when `cost_reference` is `fixed`."""
    cost_reference: Literal["fixed", "pool_max"] = "fixed"
    """`fixed`: divide by `cost_scale`; `pool_max`: by the largest cost EMA among the candidates."""
    cap: float = Field(3.0, gt=0)


class RouterPolicy(BaseModel):
    """Everything that decides a routing: EMA rule, ranking, panel size and feedback window."""

    model_config = _FROZEN

    ema: EmaPolicy = EmaPolicy()
    ranking: Literal["utility", "lexicographic"] = "utility"
    """`utility`: the weighted sum below; `lexicographic`: the signals in `order`, accuracy rounded to
    `precision`."""
    weights: UtilityWeights = UtilityWeights()
    precision: float = Field(0.01, ge=0)
    """Lexicographic ranking compares accuracies rounded to this step, so near-ties go to the next signal;
    0 compares them exactly (the paper)."""
    order: tuple[Signal, ...] = ("accuracy", "stability", "latency_ms", "cost")
    """Lexicographic order of the signals; the paper's is accuracy, latency_ms, cost, stability."""
    k: int = Field(3, ge=1)
    """Panel size: the top k agents analyse (facets go to them in rank order)."""
    merger: Literal["top", "accuracy"] = "top"
    """`top`: the top-ranked agent merges (the paper); `accuracy`: the agent with the highest accuracy EMA
    merges (ties by rank, then id) and takes the panel's last seat if the ranking left it out."""
    window: int = Field(0, ge=0)
    """Item i is routed with exactly the feedback of items before i − window (prequential). 0 is strictly
    sequential; a larger window lets that many items run concurrently, with the same routing at any
    concurrency."""
    feedback: Literal["answers", "direct"] = "answers"
    """`answers`: the gold scores each panel agent's own tentative answer (no extra calls); `direct`: every
    agent also answers directly and is scored (the paper's mode; extra calls, reported)."""
    probe_every: int = Field(0, ge=0)
    """With `answers` feedback, on every N-th item in item order the least recently observed agent outside
    the panel also answers directly and is scored (one extra call, counted), so it can re-enter; 0: never."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in PRESETS:
                raise ValueError(f"unknown router preset {value!r}; presets: {sorted(PRESETS)}")
            return PRESETS[value].model_dump()
        return value

    @model_validator(mode="after")
    def _order_is_a_permutation(self) -> RouterPolicy:
        if sorted(self.order) != sorted(("accuracy", "latency_ms", "cost", "stability")):
            raise ValueError(f"order must list each of accuracy, latency_ms, cost, stability once, not {self.order}")
        return self

    @property
    def policy_hash(self) -> str:
        return hashlib.sha256(json.dumps(_hashed(self), sort_keys=True).encode()).hexdigest()[:16]


_ADDED_LATER: dict[tuple[str, ...], object] = {
    ("ema", "init"): "cold_start",
    ("weights", "latency_reference"): "fixed",
    ("weights", "cost_reference"): "fixed",
    ("order",): ["accuracy", "stability", "latency_ms", "cost"],
    ("merger",): "top",
    ("probe_every",): 0,
}
"""Fields added after policies were first persisted: left out of the hash at their defaults, so states
built before they existed keep their policy hash."""


def _hashed(policy: RouterPolicy) -> dict:
    dump = policy.model_dump(mode="json")
    for path, default in _ADDED_LATER.items():
        *parents, name = path
        node = dump
        for parent in parents:
            node = node[parent]
        if node.get(name) == default:
            del node[name]
    return dump


PRESETS: dict[str, RouterPolicy] = {
    "paper": RouterPolicy(),
    "paper-lexicographic": RouterPolicy(ranking="lexicographic"),
    "paper-direct": RouterPolicy(feedback="direct"),
    "paper-exact": RouterPolicy(
        ema=EmaPolicy(init="first_observation"),
        ranking="lexicographic",
        precision=0.0,
        order=("accuracy", "latency_ms", "cost", "stability"),
        feedback="direct",
    ),
    "orch": RouterPolicy(
        ema=EmaPolicy(bias_correction=True),
        weights=UtilityWeights(latency_reference="pool_max", cost_reference="pool_max"),
        merger="accuracy",
        probe_every=5,
    ),
}
"""`paper*`: the paper's settings (α = 0.2, utility weights 0.1 / 0.3 / 0.1, k = 3) and variants;
`paper-exact`: the protocol as the authors' scripts ran it (first-observation EMAs, exact lexicographic
order −accuracy, latency, cost, −stability, every agent answering directly); `orch`: orch's own for
any pool (latency and cost relative to the pool, the most accurate agent merges, a probe every 5 items)."""


def resolve_policy(value: str | dict | RouterPolicy | None) -> RouterPolicy:
    """A policy from a preset name, a dict of fields, or a policy (None: `paper`)."""
    if value is None:
        return PRESETS["paper"]
    if isinstance(value, RouterPolicy):
        return value
    return RouterPolicy.model_validate(value)
