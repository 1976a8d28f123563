"""Graph specs: YAML text → dict → a validated `GraphSpec` (structure only).

Whether node types exist, configs are valid and the edges form a sound graph is checked by
`graphs.compile`, which needs the node registry; this module only reads and types the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from orch.errors import SpecError
from orch.yamlio import load_model, load_yaml_mapping

__all__ = ["END", "START", "GraphSpec", "NodeSpec"]

START = "START"
END = "END"


class NodeSpec(BaseModel):
    """One node: a registered type (or dotted path), its config, and how it fans out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    """A registered node kind (`analyze`, `merge`, `direct`, `vote`, `decompose`) or `pkg.module:Class`."""
    fan_out: Literal["panel", "tasks"] | tuple[str, ...] | None = None
    """Run one copy per panel agent, per task (from `decompose`), or per listed agent id."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The node kind's own settings, validated by its `Config` model."""
    description: str = ""


class GraphSpec(BaseModel):
    """A declarative orch graph."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    edges: tuple[tuple[str, str], ...] = Field(min_length=1)
    """Pairs `[source, target]`; `START` and `END` are the graph's entry and exit."""
    panel: tuple[str, ...] | None = None
    """Analysts for `fan_out: panel`; defaults to the pool's panel (or the router's choice)."""
    roles: dict[str, str] = Field(default_factory=dict)
    """Role overrides (e.g. `merger: qwen-1.5b`) on top of the pool's roles."""

    @field_validator("nodes", mode="before")
    @classmethod
    def _short_forms(cls, value: object) -> object:
        # `vote: vote` is short for `vote: {type: vote}`.
        if isinstance(value, dict):
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @classmethod
    def from_file(cls, path: Path) -> GraphSpec:
        data = load_yaml_mapping(path, SpecError)
        if not data:
            raise SpecError(path, None, "empty graph spec; it needs name, nodes and edges (see `orch graph show orch`)")
        return cls.from_dict(data, source=path)

    @classmethod
    def from_text(cls, text: str, source: str = "<spec>") -> GraphSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(source, None, f"invalid YAML: {exc}".splitlines()[0]) from exc
        if not isinstance(data, dict):
            raise SpecError(source, None, f"a graph spec must be a mapping, got {type(data).__name__}")
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: dict, source: Path | str = "<spec>") -> GraphSpec:
        return load_model(cls, data, source, SpecError)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)

    @property
    def spec_hash(self) -> str:
        """sha256 of the canonical JSON of the validated spec (comments and layout do not count)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
