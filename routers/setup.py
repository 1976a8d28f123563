"""Wiring a router into a run: load the persisted state a graph's `route` node starts from
(refusing a state built under another policy), and persist every update as a new version."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from orch.config import PoolConfig
from orch.records import Observation
from orch.routers.nodes import Route
from orch.routers.policy import RouterPolicy
from orch.routers.service import RouterService
from orch.routers.state import RouterState, fold_once
from orch.routers.store import RouterRepo

__all__ = ["RouterSetup", "RouterUpdate", "fold_once", "open_router"]

RouterUpdate = Callable[[int, "RouterState", RouterPolicy], None]
"""Called after item `index`'s feedback is folded in, with the new state and the router's policy."""


@dataclass(frozen=True)
class RouterSetup:
    service: RouterService
    router_id: str
    store_url: str
    start_version: int
    start_hash: str
    policy: RouterPolicy

    def params(self) -> dict[str, object]:
        """What a run records about the router it started from."""
        return {
            "router.id": self.router_id,
            "router.store": self.store_url,
            "router.start_version": self.start_version,
            "router.start_hash": self.start_hash,
            "router.policy_hash": self.policy.policy_hash,
            "router.policy": self.policy.model_dump_json(),
        }


@contextmanager
def open_router(
    node: Route | None,
    pool: PoolConfig,
    *,
    router_id: str,
    scope: str | Callable[[], str],
    store_url: str | None = None,
    fresh: bool = False,
    order: Sequence[str] = (),
    replayed: Sequence[tuple[str, list[Observation]]] = (),
    on_update: RouterUpdate | None = None,
) -> Iterator[RouterSetup | None]:
    """A `RouterSetup` for a graph's `route` node (None for a graph without one).

    Args:
        router_id: the persisted router this run updates.
        scope: makes feedback ids unique (`<scope>/<item id>`) so an update is applied once only,
            even when a resumed run folds its finished items again.
        fresh: start from cold state even if the router has versions (evaluations do, so nothing is
            reused silently); otherwise continue from its current version.
        order: the item order that defines "before" (an evaluation's sample order).
        replayed: feedback of items already finished (resuming), folded before any item is routed.

    Raises:
        ConfigError: the router's current state was built under a different policy.
    """
    if node is None:
        yield None
        return
    policy = node.config.policy
    agents = node.config.agents or pool.agent_ids
    with RouterRepo.open(store_url) as repo:
        current = None if fresh else repo.current_under(router_id, policy)
        start = current.state if current is not None else RouterState.fresh(policy)

        def persist(index: int, state: RouterState, observations: list[Observation]) -> None:
            if observations:
                feedback_id = f"{scope() if callable(scope) else scope}/{observations[0].item_id}"
                repo.commit(router_id, fold_once(observations, policy, feedback_id), reason=feedback_id)
            if on_update is not None:
                on_update(index, state, policy)

        service = RouterService(policy, agents, start, router_id=router_id, on_update=persist)
        service.set_order(order)
        for item_id, observations in replayed:
            service.report(item_id, observations)
        yield RouterSetup(service, router_id, repo.url, start.version, start.state_hash, policy)
