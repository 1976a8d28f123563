"""Node kinds: a pydantic `Config` (the YAML params), declared outputs, and an async call.

A node kind is a `Node[ConfigT]` subclass: the config type is declared once, as the type
parameter. Specs refer to built-in kinds by name (`type: analyze`, see `orch.graphs.kinds`) and
to a user's kinds by dotted import path (`type: mypkg.nodes:Critic`). Node objects are the
callables LangGraph runs: `node(state, runtime)`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from orch.errors import ConfigError
from orch.nodes.context import RunContext
from orch.records import Completion, Usage

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langgraph.runtime import Runtime

    from orch.backends.chat import AgentClient

__all__ = ["AgentRef", "CallLog", "Node", "NodeConfig", "agent_fields", "context_of"]


class _AgentReference:
    """Marks a config field whose value names an agent or a role; checked against the pool at compile time."""

    def __repr__(self) -> str:
        return "AgentRef"


AgentRef = Annotated[str, _AgentReference()]
"""A config field naming an agent id or a role (`merger`), e.g. `agent: AgentRef | None = None`."""


class NodeConfig(BaseModel):
    """Base of every node kind's config: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=NodeConfig)


def agent_fields(config_type: type[NodeConfig]) -> tuple[str, ...]:
    """The config fields typed `AgentRef` (or `AgentRef | None`)."""

    def marked(annotation: Any) -> bool:
        if any(isinstance(m, _AgentReference) for m in getattr(annotation, "__metadata__", ())):
            return True
        return any(marked(arg) for arg in get_args(annotation))

    return tuple(
        name
        for name, info in config_type.model_fields.items()
        if any(isinstance(m, _AgentReference) for m in info.metadata) or marked(info.annotation)
    )


def context_of(runtime: Runtime[RunContext], node_id: str) -> RunContext:
    """The run's context, or a clear error naming what to pass instead."""
    context = runtime.context
    if not isinstance(context, RunContext):
        raise ConfigError(
            "graph",
            f"nodes.{node_id}",
            "no agents: invoke the graph with context=RunContext(...) (orch.Session.context() builds one)",
        )
    return context


class Node(ABC, Generic[ConfigT]):
    """One step of a graph. Subclass as `Node[MyConfig]`, set `kind` and implement `__call__`."""

    kind: ClassVar[str]
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    """Set from the type parameter: `class Vote(Node[VoteConfig])` makes `Vote.Config` `VoteConfig`."""
    decides: ClassVar[bool] = False
    """True when the node writes the graph's final `decision` (merge, vote, direct)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Node and get_args(base) and isinstance(get_args(base)[0], type):
                cls.Config = get_args(base)[0]

    def __init__(self, node_id: str, config: ConfigT | None = None) -> None:
        self.node_id = node_id
        self.config: ConfigT = config if config is not None else self.Config()  # type: ignore[assignment]
        self.__name__ = node_id  # LangGraph names a callable's run by it

    def extra_agents(self, agent_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Agents this node may call beyond its `AgentRef` fields (a router's candidates), so they are started."""
        return ()

    def state_versions(self) -> dict[str, str]:
        """Versioned state this node reads beyond its config (a profile: name → version and hash), so
        stored results made with other state are never reused for this node's graph."""
        return {}

    def assigned_agent(self, state: dict, context: RunContext) -> tuple[str, int, bool]:
        """(agent, slot, fanned out): a fan-out payload names its agent; otherwise `config.agent`
        (an agent id or a role) does."""
        if "agent" in state:
            return state["agent"], state.get("slot", 0), True
        name = getattr(self.config, "agent", None)
        if not name:
            raise ConfigError("graph", f"nodes.{self.node_id}", "set config.agent or fan the node out over the panel")
        return context.agent_for(name, state), 0, False

    def writes_decision(self, fanned_out: bool) -> bool:
        """Whether this node, placed as in the spec, writes the graph's final `decision`."""
        return self.decides and not fanned_out

    @abstractmethod
    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        """Read the state (or a fan-out payload) and return the channel updates."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_id!r}, {self.config!r})"


class CallLog:
    """One node's calls to one agent: usage and timing are added up here, not in every node."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self.completions: list[Completion] = []
        self.started_at = time.time()

    async def complete(self, messages: Sequence[BaseMessage], **kwargs: Any) -> Completion:
        """One call, charged to the item's budget when the run set one (see `orch.nodes.budgets`).

        Raises:
            BackendError: the call failed, or (`BudgetExceeded`) the item's cost budget refused it.
        """
        from orch.nodes.budgets import current_spend

        spend = current_spend()
        if spend is not None:
            spend.check()
        completion = await self.client.complete(messages, **kwargs)
        self.completions.append(completion)
        if spend is not None:
            spend.charge(completion)
        return completion

    def stamp(self) -> dict[str, Any]:
        """`usage`, `started_at` and `ended_at` for the record these calls produced."""
        done = self.completions
        return {
            "usage": Usage.of(done),
            "started_at": done[0].started_at if done else self.started_at,
            "ended_at": done[-1].ended_at if done else time.time(),
        }
