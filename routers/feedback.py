"""Delayed feedback: a user's answer for a prediction made earlier, applied to the router once.

The prediction's latency, cost and stability were learned when it was made; the answer brings
accuracy alone, scored against each panel agent's own answer for that item.
"""

from __future__ import annotations

from pydantic import BaseModel

from orch.errors import ConfigError, OrchError
from orch.items import Item
from orch.nodes.reading import valid_answer
from orch.records import ItemResult, Observation
from orch.routers.nodes import observations_from_outputs
from orch.routers.policy import RouterPolicy
from orch.routers.setup import fold_once
from orch.routers.store import RouterRepo

__all__ = ["FeedbackResult", "apply_feedback", "feedback_observations"]


class FeedbackResult(BaseModel):
    router_id: str
    item_id: str
    answer: str
    applied: bool
    """False when this feedback had been applied before: feedback counts once only."""
    version: int
    correct: dict[str, float]
    """Per panel agent that answered: the share of its answers the given answer confirms (an agent
    whose calls all failed taught nothing about accuracy and is left out)."""


def feedback_observations(result: ItemResult, answer: str) -> tuple[list[Observation], str]:
    """Accuracy-only observations for the item's analysts, scored against `answer`, and the canonical answer."""
    item = result.item
    gold = valid_answer(answer, item)
    if gold is None:
        valid = list(item.letters) if item.options else "a number"
        raise ConfigError("feedback", "ANSWER", f"{answer!r} is not a valid answer for {item.id}; valid: {valid}")
    graded = Item.model_validate({**item.model_dump(), "answer": gold})
    outputs = [a for a in result.analyses if a.kind == "analysis"] or list(result.analyses)
    observations = observations_from_outputs(graded, outputs)
    return [o.model_copy(update={"latency_ms": None, "cost": None, "ok": None}) for o in observations], gold


def apply_feedback(
    result: ItemResult, answer: str, *, router_id: str, store_url: str, policy: RouterPolicy, run_id: str
) -> FeedbackResult:
    """Apply `answer` for the logged `result` (item of the run `run_id`) to the router it used.

    Raises:
        OrchError: the item had a gold answer when it ran (its router already learned from it).
        ConfigError: the answer is not valid for the item.
    """
    if result.feedback and any(o.correct is not None for o in result.feedback.observations):
        raise OrchError(f"item {result.item.id!r} had a gold answer when it ran; the router already learned from it")
    observations, gold = feedback_observations(result, answer)
    feedback_id = f"{run_id}/{result.item.id}#delayed"
    with RouterRepo.open(store_url) as repo:
        before = repo.current(router_id)
        state = repo.commit(router_id, fold_once(observations, policy, feedback_id), reason=feedback_id)
    applied = before is None or (state is not None and state.version > before.version)
    return FeedbackResult(
        router_id=router_id,
        item_id=result.item.id,
        answer=gold,
        applied=applied,
        version=state.version if state else 0,
        correct={o.agent: o.correct for o in observations if o.correct is not None},
    )
