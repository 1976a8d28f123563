"""`decompose`: the paper's three fixed facets, one per analyst.

No model call: facets are assigned in panel order (cycling if the panel is larger). With
`agent` set, one agent writes every facet — diversity from one strong model's different
viewpoints instead of from weak models.
"""

from __future__ import annotations

from langgraph.runtime import Runtime
from pydantic import Field

from orch.nodes.analyze import FacetName
from orch.nodes.base import Node, NodeConfig, register_node
from orch.nodes.runtime import RunContext, resolve_agent
from orch.nodes.state import Task

__all__ = ["Decompose", "DecomposeConfig"]


class DecomposeConfig(NodeConfig):
    facets: tuple[FacetName, ...] = Field(
        ("concept_discrimination", "option_elimination", "reasoning_verification"), min_length=1
    )
    agent: str | None = None
    """If set (an agent id or role), this agent writes every facet; otherwise one facet per panel member."""


@register_node
class Decompose(Node):
    kind = "decompose"
    Config = DecomposeConfig
    agent_fields = ("agent",)
    config: DecomposeConfig

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        facets = self.config.facets
        if self.config.agent:
            agent = resolve_agent(self.config.agent, state, runtime.context)
            tasks = [Task(agent=agent, slot=i, facet=facet) for i, facet in enumerate(facets)]
        else:
            tasks = [Task(agent=agent, slot=0, facet=facets[i % len(facets)]) for i, agent in enumerate(state["panel"])]
        return {"tasks": [t.model_dump() for t in tasks]}
