"""Delayed feedback: a user's answer for a prediction made earlier, applied to the router once.

The prediction's latency, cost and stability were learned when it was made; the answer brings
accuracy alone, scored against each panel agent's own answer for that item.
"""

from __future__ import annotations

from pydantic import BaseModel

from orch.errors import ConfigError, OrchError
from orch.items import Item
from orch.nodes.reading import valid_answer
from orch.routers.nodes import observations_from_outputs
from orch.routers.policy import RouterPolicy
from orch.routers.setup import fold_once
from orch.routers.state import Observation
from orch.routers.store import RouterRepo
from orch.runner import ItemResult

__all__ = ["FeedbackResult", "apply_feedback", "feedback_observations"]


class FeedbackResult(BaseModel):
    router_id: str
    item_id: str
    answer: str
    applied: bool
    """False when this feedback had been applied before: feedback counts once only."""
    version: int
    correct: dict[str, float]
    """Per panel agent: the share of its answers the given answer confirms."""


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


def apply_feedback(run_id: str, item_id: str, answer: str) -> FeedbackResult:
    """Apply `answer` for `item_id` of the MLflow run `run_id` to the router that run used.

    Raises:
        OrchError: the run did not use a router, the item is not in it, or it already had a gold answer.
    """
    from orch.eval.logged import load_run_results, run_params

    params = run_params(run_id)
    if "router.id" not in params:
        raise OrchError(f"run {run_id} did not use a router (its graph has no route node)")
    result = next((r for r in load_run_results(run_id) if r.item.id == item_id), None)
    if result is None:
        raise OrchError(f"run {run_id} has no item {item_id!r}")
    if result.feedback and any(o.get("correct") is not None for o in result.feedback.get("observations", [])):
        raise OrchError(f"item {item_id!r} had a gold answer when it ran; the router already learned from it")
    observations, gold = feedback_observations(result, answer)
    policy = RouterPolicy.model_validate_json(params["router.policy"])
    feedback_id = f"{run_id}/{item_id}#delayed"
    with RouterRepo.open(params["router.store"]) as repo:
        before = repo.current(params["router.id"])
        state = repo.commit(params["router.id"], fold_once(observations, policy, feedback_id), reason=feedback_id)
    applied = before is None or (state is not None and state.version > before.version)
    return FeedbackResult(
        router_id=params["router.id"],
        item_id=item_id,
        answer=gold,
        applied=applied,
        version=state.version if state else 0,
        correct={o.agent: o.correct or 0.0 for o in observations},
    )
