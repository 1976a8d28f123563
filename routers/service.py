"""Prequential routing in a fixed item order, deterministic at any concurrency.

Item i is routed with exactly the feedback of items before i − window, folded in item order,
whatever order items finish in. Routing item i waits until that prefix is complete; with a window
of 0 routed items run one after another, with a window of w up to w + 1 run at once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence

from orch.items import Item
from orch.records import Observation, RoutingDecision
from orch.routers.policy import RouterPolicy
from orch.routers.ranking import decide
from orch.routers.state import RouterState, apply

__all__ = ["RouterService"]

OnUpdate = Callable[[int, RouterState, list[Observation]], None]
"""Called after item `index`'s feedback is folded in: (index, new state, its observations)."""


class RouterService:
    """Routes items and folds their feedback, for one run of a routed graph.

    Args:
        policy: the router policy (its hash must match `start`'s).
        agents: the agents it may pick from.
        start: the state to start from (a fresh one, or a persisted router's current version).
        router_id: where updates are persisted (recorded in routing decisions).
        on_update: called after each fold (persistence, MLflow EMA curves).
    """

    def __init__(
        self,
        policy: RouterPolicy,
        agents: Sequence[str],
        start: RouterState,
        *,
        router_id: str = "",
        on_update: OnUpdate | None = None,
    ) -> None:
        if start.policy_hash != policy.policy_hash:
            raise ValueError(
                f"router {router_id!r}: its state was built with policy {start.policy_hash}, not {policy.policy_hash}"
            )
        self.policy = policy
        self.agents = tuple(agents)
        self.router_id = router_id
        self.on_update = on_update
        self.states: list[RouterState] = [start]
        """`states[k]`: the start state plus the feedback of the first k items, in order."""
        self._order: dict[str, int] = {}
        self._reported: dict[int, list[Observation]] = {}
        self._conditions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Condition] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def state(self) -> RouterState:
        return self.states[-1]

    def set_order(self, item_ids: Sequence[str]) -> None:
        """The order that defines "before" (an evaluation's item order)."""
        for item_id in item_ids:
            self._order.setdefault(item_id, len(self._order))

    def index(self, item_id: str) -> int:
        return self._order.setdefault(item_id, len(self._order))

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        condition = self._conditions.get(loop)
        if condition is None:
            condition = self._conditions[loop] = asyncio.Condition()
        return condition

    async def route(self, item: Item) -> RoutingDecision:
        """Wait for the feedback of every item before i − window, then rank on exactly that state."""
        index = self.index(item.id)
        needed = max(0, index - self.policy.window)
        condition = self._condition()
        async with condition:
            await condition.wait_for(lambda: len(self.states) > needed)
        state = self.states[needed]
        return decide(state, self.policy, self.agents, item.category, router_id=self.router_id, index=index)

    def report(self, item_id: str, observations: Sequence[Observation]) -> None:
        """Record an item's feedback (once); fold every item whose predecessors are all in."""
        index = self.index(item_id)
        if index < len(self.states) - 1 or index in self._reported:
            return  # already folded or reported: feedback counts once
        self._reported[index] = list(observations)
        while len(self.states) - 1 in self._reported:
            k = len(self.states) - 1
            observations_k = self._reported.pop(k)
            state = apply(self.states[-1], observations_k, self.policy)
            self.states.append(state)
            if self.on_update is not None:
                self.on_update(k, state, observations_k)
        try:
            condition = self._condition()
        except RuntimeError:  # reported outside an event loop (resuming from stored results)
            return
        asyncio.get_running_loop().create_task(self._notify(condition))

    async def areport(self, item_id: str, observations: Sequence[Observation]) -> None:
        """`report`, as the `feedback` node calls it (this router persists synchronously)."""
        self.report(item_id, observations)

    @staticmethod
    async def _notify(condition: asyncio.Condition) -> None:
        async with condition:
            condition.notify_all()
