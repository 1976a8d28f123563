"""What every node receives besides the state: the run's agents, through LangGraph's `Runtime`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orch.backends.chat import AgentClient
from orch.backends.pool import AgentPool
from orch.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from orch.routers.service import RouterService

__all__ = ["RunContext", "resolve_agent"]


@dataclass(frozen=True, slots=True)
class RunContext:
    """Passed as `context=` to `graph.ainvoke`; nodes read it as `runtime.context`."""

    pool: AgentPool
    router: RouterService | None = None
    """The run's router, for graphs with `route` and `feedback` nodes."""

    def client(self, agent_id: str) -> AgentClient:
        return self.pool.client(agent_id)

    @property
    def priority(self) -> tuple[str, ...]:
        """The fixed agent order of tie-breaks: declaration order in the pool config."""
        return self.pool.config.agent_ids


def resolve_agent(name: str, state: dict, context: RunContext) -> str:
    """An agent reference is an agent id or a role (`merger`, `dispatcher`) set in the state."""
    roles = state.get("roles") or {}
    if name in roles:
        return roles[name]
    if name in context.pool.config.agent_ids:
        return name
    if name in context.pool.config.roles:
        return context.pool.config.roles[name]
    known = [*roles, *context.pool.config.agent_ids]
    raise ConfigError("pool", "agents", f"{name!r} is neither an agent nor a role.{did_you_mean(name, known)}")
