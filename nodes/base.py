"""Node kinds: a pydantic `Config` (the YAML params), declared outputs, and an async call.

A node kind is a `Node` subclass registered by name. Specs refer to built-in kinds by name
(`type: analyze`) and to user kinds by dotted import path (`type: mypkg.nodes:Critic`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import ClassVar

from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict

from orch.errors import did_you_mean
from orch.nodes.runtime import RunContext, resolve_agent

__all__ = ["NODE_REGISTRY", "Node", "NodeConfig", "NodeRegistry", "register_node"]


class NodeConfig(BaseModel):
    """Base of every node kind's config: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Node(ABC):
    """One step of a graph. Subclasses set `kind` and `Config` and implement `__call__`."""

    kind: ClassVar[str]
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    decides: ClassVar[bool] = False
    """True when the node writes the graph's final `decision` (merge, vote, direct)."""
    agent_fields: ClassVar[tuple[str, ...]] = ()
    """Config fields that name an agent or a role, checked against the pool when a graph compiles."""

    def __init__(self, node_id: str, config: NodeConfig) -> None:
        self.node_id = node_id
        self.config = config

    def extra_agents(self, agent_ids: tuple[str, ...]) -> tuple[str, ...]:
        """Agents this node may call beyond its `agent_fields` (a router's candidates), so they are started."""
        return ()

    def assigned_agent(self, state: dict, runtime: Runtime[RunContext]) -> tuple[str, int, bool]:
        """(agent, slot, fanned out): a fan-out payload names its agent; otherwise `config.agent`
        (an agent id or a role) does."""
        if "agent" in state:
            return state["agent"], state.get("slot", 0), True
        name = getattr(self.config, "agent", None)
        if not name:
            raise ValueError(f"node {self.node_id!r}: set config.agent or fan the node out over the panel")
        return resolve_agent(name, state, runtime.context), 0, False

    def writes_decision(self, fanned_out: bool) -> bool:
        """Whether this node, placed as in the spec, writes the graph's final `decision`."""
        return self.decides and not fanned_out

    @abstractmethod
    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        """Read the state (or a fan-out payload) and return the channel updates."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_id!r}, {self.config!r})"


class NodeRegistry:
    """Node kinds by name, plus lookup of user kinds by dotted path."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[Node]] = {}

    def register(self, cls: type[Node]) -> type[Node]:
        if cls.kind in self._kinds and self._kinds[cls.kind] is not cls:
            raise ValueError(f"node kind {cls.kind!r} is already registered by {self._kinds[cls.kind].__qualname__}")
        self._kinds[cls.kind] = cls
        return cls

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def resolve(self, name: str) -> type[Node]:
        """A registered kind, or `package.module:Class` / `package.module.Class` for a user's own.

        Raises:
            LookupError: with the valid kinds and the closest match; the spec compiler adds the
                file and key.
        """
        if name in self._kinds:
            return self._kinds[name]
        if "." not in name and ":" not in name:
            raise LookupError(
                f"unknown node type {name!r}.{did_you_mean(name, self._kinds)} "
                f"Valid types: {list(self.kinds)}, or a dotted path such as 'mypkg.nodes:MyNode'"
            )
        module_name, _, attr = name.rpartition(":") if ":" in name else name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"cannot import node type {name!r}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise LookupError(f"{name!r} is not a subclass of orch.nodes.Node")
        return cls


NODE_REGISTRY = NodeRegistry()


def register_node(cls: type[Node]) -> type[Node]:
    """Class decorator: make a node kind available to specs by its `kind` name."""
    return NODE_REGISTRY.register(cls)
