"""Delayed feedback for a logged run: find the item's result and the router it used, then apply."""

from __future__ import annotations

from orch.errors import OrchError
from orch.records import ItemResult
from orch.routers.feedback import FeedbackResult, apply_feedback
from orch.routers.policy import RouterPolicy

__all__ = ["give_feedback", "logged_results"]


def logged_results(run_id: str) -> list[ItemResult]:
    """The per-item results an `ask`, `run` or evaluation system run logged as `results.jsonl`."""
    from orch.tracking import logged_run

    text = logged_run(run_id).text("results.jsonl")
    return [ItemResult.model_validate_json(line) for line in text.splitlines() if line.strip()]


def give_feedback(run_id: str, item_id: str, answer: str) -> FeedbackResult:
    """Apply `answer` for `item_id` of the MLflow run `run_id` to the router that run used, once only.

    Raises:
        OrchError: the run did not use a router, the item is not in it, or it already had a gold answer.
    """
    from orch.tracking import logged_run

    params = logged_run(run_id).params
    if "router.id" not in params:
        raise OrchError(f"run {run_id} did not use a router (its graph has no route node)")
    result = next((r for r in logged_results(run_id) if r.item.id == item_id), None)
    if result is None:
        raise OrchError(f"run {run_id} has no item {item_id!r}")
    return apply_feedback(
        result,
        answer,
        router_id=params["router.id"],
        store_url=params["router.store"],
        policy=RouterPolicy.model_validate_json(params["router.policy"]),
        run_id=run_id,
    )
