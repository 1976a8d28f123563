"""What every node receives besides the state: the run's agents, through LangGraph's `Runtime`.

A graph is invoked with `context=RunContext(...)` (LangGraph's runtime context), so nodes never
reach for globals: the pool of started agents, the graph's default panel and roles, and the
router of a routed graph all come in here. `orch.Session` builds one from a pool config and a
graph (`Session.context()`), for any code that invokes the compiled graph itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from orch.backends.pool import AgentPool
from orch.errors import ConfigError, did_you_mean
from orch.items import Item
from orch.records import Observation, RoutingDecision

if TYPE_CHECKING:
    from orch.backends.chat import AgentClient

__all__ = ["Router", "RunContext"]


class Router(Protocol):
    """What the runner and the `route`/`feedback` nodes need of a router (see `orch.routers`)."""

    router_id: str

    async def route(self, item: Item) -> RoutingDecision: ...

    def report(self, item_id: str, observations: Sequence[Observation]) -> None: ...

    async def areport(self, item_id: str, observations: Sequence[Observation]) -> None:
        """`report` from inside a run (the `feedback` node), where a store may only be reached asynchronously."""
        ...

    def set_order(self, item_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class RunContext:
    """Passed as `context=` to `graph.invoke`/`ainvoke`; nodes read it as `runtime.context`.

    Args:
        pool: the started agents.
        panel: the default analysts of `fan_out: panel` (a `route` node overrides them per item).
        roles: role name → agent id (e.g. `merger`); a `route` node overrides them per item.
        router: the run's router, for graphs with `route` and `feedback` nodes.
    """

    pool: AgentPool
    panel: tuple[str, ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)
    router: Router | None = None

    def client(self, agent_id: str) -> AgentClient:
        return self.pool.client(agent_id)

    @property
    def priority(self) -> tuple[str, ...]:
        """The fixed agent order of tie-breaks: declaration order in the pool config."""
        return self.pool.config.agent_ids

    def panel_for(self, state: Mapping) -> list[str]:
        """This item's analysts: the router's choice if it made one, else the graph's default."""
        return list(state.get("panel") or self.panel or self.pool.config.default_panel)

    def roles_for(self, state: Mapping) -> dict[str, str]:
        """This item's roles: the pool's, the graph's, then the router's choice for this item."""
        return {**self.pool.config.default_roles(), **self.roles, **(state.get("roles") or {})}

    def agent_for(self, name: str, state: Mapping) -> str:
        """The agent behind a reference (an agent id or a role) for this item: the one place roles resolve."""
        roles = self.roles_for(state)
        if name in roles:
            return roles[name]
        if name in self.pool.config.agent_ids:
            return name
        known = [*roles, *self.pool.config.agent_ids]
        raise ConfigError("pool", "agents", f"{name!r} is neither an agent nor a role.{did_you_mean(name, known)}")
