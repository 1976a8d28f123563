"""What flows through an orch graph: the state channels and the fan-out payloads.

Channels hold plain `model_dump()` dicts of `orch.records` models, so any LangGraph checkpointer
can store them; nodes validate them back into those models on entry. The `analyses` channel
keeps itself in (agent id, slot, node) order: parallel writes arrive in any order, and no
consumer has to sort them again.
"""

from __future__ import annotations

from typing import Annotated, NotRequired

from typing_extensions import TypedDict

from orch.items import Item
from orch.records import AgentOutput

__all__ = ["Assignment", "OrchState", "add_analyses", "analyses_of", "item_of"]


def _order(output: dict) -> tuple[str, int, str]:
    return (output["agent"], output.get("slot", 0), output["node"])


def add_analyses(left: list[dict], right: list[dict]) -> list[dict]:
    """The `analyses` reducer: append, then keep (agent id, slot, node) order."""
    return sorted([*left, *right], key=_order)


class OrchState(TypedDict, total=False):
    """The graph state. The input is `item` (panel and roles default to the run's context)."""

    item: dict
    """An `orch.Item` as a dict: `question`, `options` (none for a numeric question), `answer` if known."""
    panel: list[str]
    """This item's analysts, when a `route` node chose them."""
    roles: dict[str, str]
    """This item's roles (e.g. `merger`), when a `route` node chose them."""
    tasks: list[dict]
    dispatch: dict
    """The dispatcher's call (`orch.records.Dispatch`), when `decompose` asked one for sub-questions."""
    analyses: Annotated[list[dict], add_analyses]
    decision: dict
    routing: dict
    feedback: dict


class Assignment(TypedDict):
    """The payload of one `Send` of a fan-out: the item and the analyst's task."""

    item: dict
    roles: NotRequired[dict[str, str]]
    agent: str
    slot: int
    facet: NotRequired[str | None]
    sub_question: NotRequired[str | None]
    note: NotRequired[str]


def item_of(state: dict) -> Item:
    return Item.model_validate(state["item"])


def analyses_of(state: dict) -> list[AgentOutput]:
    """The analyses so far, already in (agent id, slot, node) order."""
    return [AgentOutput.model_validate(a) for a in state.get("analyses", [])]
