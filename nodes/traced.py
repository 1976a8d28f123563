"""A node run inside a trace span of its own, so an item's trace shows each node (each fanned-out
analyst too) with the model calls it made inside; nothing is recorded when the item is not traced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orch.spans as spans
from orch.nodes.base import Node
from orch.nodes.context import RunContext

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["TracedNode"]


class TracedNode:
    """Calls `node` as LangGraph would, inside a span named by the node id.

    Args:
        context: a run context that replaces the invocation's, for hosts whose runs carry JSON
            context only (LangGraph's server): the agents are bound when the graph is built.
    """

    def __init__(self, node: Node[Any], *, context: RunContext | None = None) -> None:
        self.node = node
        self.context = context
        self.__name__ = node.node_id  # LangGraph names a callable's run by it

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        if self.context is not None:
            runtime = runtime.override(context=self.context)
        if not spans.active():
            return await self.node(state, runtime)
        attributes = {"node_type": self.node.kind}
        if "agent" in state:  # a fan-out payload: one analyst's task
            attributes.update(agent=state["agent"], slot=state.get("slot", 0))
        with spans.span(self.node.node_id, "CHAIN", attributes=attributes) as span:
            update = await self.node(state, runtime)
            span.set_outputs(update)
            return update

    def __repr__(self) -> str:
        return f"TracedNode({self.node!r})"
