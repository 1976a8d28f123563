"""A router kept in the LangGraph store a host gives the graph: LangGraph's server, one item per run.

A run of a routed graph routes its item on the router's current version in that store, and its
feedback folds into the store as the next version, once per run. So items are "before" one another
in the order their feedback lands: an item is still routed before its own outcome is known
(prequential), and runs in flight at once all route on the version current when they start. The
layout is `RouterRepo`'s, so `orch router show` reads a copy of it the same way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from orch.errors import ConfigError
from orch.items import Item
from orch.records import Observation, RoutingDecision
from orch.routers.policy import RouterPolicy
from orch.routers.ranking import decide
from orch.routers.state import RouterState, fold_once
from orch.routers.store import RouterRepo

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore

__all__ = ["HostedRouter"]

_FIX = 'name another router in the run\'s context, e.g. {"router": "fresh"}'

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def _in_process_lock(name: str) -> Iterator[None]:
    """One lock per router id across the host's threads: a server process serialises its commits
    (several server processes on one store would need the store's own locking)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(name, threading.Lock())
    with lock:
        yield


class HostedRouter:
    """Routes one run's item on the store's current state and folds its feedback back in.

    Args:
        policy: the graph's router policy (a stored state built under another one is refused).
        agents: the candidates.
        store: the host's store (for LangGraph's server, `runtime.store`; an async store is fine:
            it is only reached from worker threads).
        router_id: the router to continue and update.
        feedback_id: makes this run's update unique (`<feedback_id>/<item id>`), e.g. the run id.
    """

    def __init__(
        self, policy: RouterPolicy, agents: Sequence[str], store: BaseStore, *, router_id: str, feedback_id: str
    ) -> None:
        self.policy = policy
        self.agents = tuple(agents)
        self.router_id = router_id
        self.feedback_id = feedback_id
        self.repo = RouterRepo(store, _in_process_lock, url="langgraph-store")

    async def route(self, item: Item) -> RoutingDecision:
        """Rank on the current version; the item's position is the number of updates before it.

        Raises:
            ValueError: the stored state was built under another policy: one line, as a `ValueError`
                because LangGraph's server shows the caller its message and hides other errors'.
        """
        try:
            current = await asyncio.to_thread(self.repo.current_under, self.router_id, self.policy, _FIX)
        except ConfigError as error:
            raise ValueError(str(error)) from error
        state = current.state if current is not None else RouterState.fresh(self.policy)
        return decide(state, self.policy, self.agents, item.category, router_id=self.router_id, index=state.version)

    def report(self, item_id: str, observations: Sequence[Observation]) -> None:
        """Fold the item's observations into the stored state as a new version (once per feedback id)."""
        if observations:
            feedback_id = f"{self.feedback_id}/{item_id}"
            self.repo.commit(self.router_id, fold_once(list(observations), self.policy, feedback_id), feedback_id)

    async def areport(self, item_id: str, observations: Sequence[Observation]) -> None:
        await asyncio.to_thread(self.report, item_id, observations)

    def set_order(self, item_ids: Sequence[str]) -> None:
        """Nothing to do: the order is the order feedback lands in the store."""
