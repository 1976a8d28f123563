"""An orch graph as LangGraph's server serves it: an item in; the answer, decision and analyses out.

The served graph is the orch graph between two nodes of its own: `intake` turns the run's input (a
question, its options, the gold answer if known) into the `item` channel, and `outcome` turns the
final state into the result the way every orch run does (`orch.app.runner.item_result`): answer,
whether it is correct, status and failures, usage. The server derives its input and output schemas
from `ItemInput` and `ItemOutput`. Nodes get their agents bound when the graph is built
(`Graph.add_to(context=...)`): a server's run carries JSON context only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal, NotRequired

from typing_extensions import TypedDict

from orch.api import make_item
from orch.app.runner import item_result
from orch.errors import DatasetError
from orch.items import Item
from orch.nodes.state import OrchState
from orch.yamlio import load_model

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from orch.app.session import Session
    from orch.nodes.context import RunContext

__all__ = ["ItemInput", "ItemOutput", "ServedContext", "served_graph"]


class ItemInput(TypedDict):
    """One question, as a run's `input`."""

    question: str
    options: NotRequired[list[str] | None]
    """Option texts in letter order (A, B, …); leave out for a question whose answer is a number."""
    answer: NotRequired[str | None]
    """The gold answer if known (a letter, or a number): the output's `correct` is scored against it."""
    id: NotRequired[str]
    """A stable id; default `ask/<hash of the question and options>`, as `orch ask` makes."""
    category: NotRequired[str | None]
    """E.g. the MMLU subject: a routed graph keeps averages per category."""


class ItemOutput(TypedDict, total=False):
    """What a run returns (`/runs/wait`, the thread's state values)."""

    answer: str | None
    """The graph's answer (None when it failed: a failure is never an answer; None too while a run
    waits before `outcome`, e.g. interrupted for review: the gold answer is in `item`)."""
    correct: bool | None
    """Against the input's gold answer; None without one or when the item failed."""
    status: Literal["ok", "degraded", "failed"]
    failures: list[str]
    decision: dict
    """How the answer was reached (`orch.records.Decision`): node, method, agent, votes, rationale."""
    analyses: list[dict]
    """Every analyst's output (`orch.records.AgentOutput`), in (agent, slot, node) order."""
    usage: dict
    """Calls, tokens, cost and model time summed over the item's calls."""
    routing: dict
    """A routed graph's choice of panel and merger, with the averages it ranked on."""
    item: dict
    """The item as orch read it (with its id)."""


class ServedContext(TypedDict, total=False):
    """What a run's `context` may set."""

    router: str
    """A routed graph's router (kept in the server's store); default: the graph's name."""


class _ServedState(OrchState, total=False):
    """The orch state, plus when `intake` read the item (the result's wall time, review included)."""

    started_at: float


class _IntakeState(ItemInput, total=False):
    item: dict


def _intake(state: _IntakeState) -> dict[str, Any]:
    """The run's input as an `Item`; a thread answers one item (the `analyses` channel accumulates).

    Raises:
        ValueError: a malformed input, one line naming the field (the server shows a `ValueError`'s
            message to the caller, and only "internal error" for other exceptions).
    """
    if state.get("item"):
        raise ValueError("input: this thread has answered an item already: start a new thread per item")
    given = {k: state[k] for k in ("question", "options", "answer", "category", "id") if state.get(k) is not None}
    try:
        item = load_model(Item, {"id": "input", **given}, "input", DatasetError)
    except DatasetError as error:
        raise ValueError(str(error)) from None
    if "id" not in given:  # the id `orch ask` gives the same question
        item = item.model_copy(update={"id": make_item(item.question, item.options).id})
    # `answer` is the gold answer going in and the graph's coming out: empty until `outcome` decides,
    # so a run interrupted for review does not show the gold answer as the graph's.
    return {"item": item.model_dump(), "answer": None, "started_at": time.time()}


class _Outcome:
    """The final state as an orch result (see `item_result`), into the output channels."""

    def __init__(self, name: str, context: RunContext | None) -> None:
        self.name = name
        self.context = context
        self.__name__ = "outcome"

    def __call__(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.context is None:
            raise RuntimeError("the served graph was built without agents (for reading), not for a run")
        wall_ms = (time.time() - state.get("started_at", time.time())) * 1000
        result = item_result(self.name, Item.model_validate(state["item"]), state, self.context, wall_ms)
        return {
            "answer": result.answer,
            "correct": result.correct,
            "status": result.status,
            "failures": result.failures,
            "usage": result.usage.model_dump(),
        }


def served_graph(session: Session, context: RunContext | None = None) -> CompiledStateGraph:
    """The session's graph between `intake` and `outcome`, its nodes bound to `context` (None: a graph
    to read, for the server's schemas, drawings and state history: the same topology, no agents)."""
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(_ServedState, context_schema=ServedContext, input_schema=ItemInput, output_schema=ItemOutput)
    builder.add_node("intake", _intake)
    builder.add_node("outcome", _Outcome(session.graph.name, context))
    builder.add_edge(START, "intake")
    session.graph.add_to(builder, session.cast, after="intake", before="outcome", context=context)
    builder.add_edge("outcome", END)
    return builder.compile(name=session.graph.name)
