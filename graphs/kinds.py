"""Node kinds by name: the built-in ones listed explicitly, a user's own by dotted import path.

The registry sits above `orch.nodes` and `orch.routers` so that neither imports the other to
fill it: this is the one place that knows every built-in kind.
"""

from __future__ import annotations

import importlib

from orch.errors import did_you_mean
from orch.nodes import Analyze, Decompose, Direct, Merge, Node, Vote, Weigh
from orch.routers.nodes import Feedback, Route

__all__ = ["NODE_KINDS", "NodeRegistry"]


class NodeRegistry:
    """Node kinds by name, plus lookup of user kinds by dotted path."""

    def __init__(self, kinds: tuple[type[Node], ...] = ()) -> None:
        self._kinds: dict[str, type[Node]] = {}
        for cls in kinds:
            self.register(cls)

    def register(self, cls: type[Node]) -> type[Node]:
        """Add a kind under its `kind` name (usable as a class decorator)."""
        if cls.kind in self._kinds and self._kinds[cls.kind] is not cls:
            raise ValueError(f"node kind {cls.kind!r} is already registered by {self._kinds[cls.kind].__qualname__}")
        self._kinds[cls.kind] = cls
        return cls

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._kinds))

    def items(self) -> list[tuple[str, type[Node]]]:
        return sorted(self._kinds.items())

    def resolve(self, name: str) -> type[Node]:
        """A registered kind, or `package.module:Class` / `package.module.Class` for a user's own.

        Raises:
            LookupError: with the valid kinds and the closest match; the spec checker adds the
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
        if not module_name or not attr or module_name.startswith("."):
            raise LookupError(f"node type {name!r} is not a dotted path such as 'mypkg.nodes:MyNode'")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # ImportError, AttributeError, or the user's module raising on import
            raise LookupError(f"cannot import node type {name!r}: {type(exc).__name__}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise LookupError(f"{name!r} is not a subclass of orch.nodes.Node")
        return cls

    def __contains__(self, name: object) -> bool:
        return name in self._kinds


NODE_KINDS = NodeRegistry((Analyze, Merge, Direct, Vote, Weigh, Decompose, Route, Feedback))
"""The built-in kinds specs name by `type:`."""
