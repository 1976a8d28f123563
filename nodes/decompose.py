"""`decompose`: the paper's three fixed facets, one per analyst.

No model call: facets are assigned in panel order (cycling if the panel is larger). With
`agent` set, one agent writes every facet — diversity from one strong model's different
viewpoints instead of from weak models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from orch.nodes.analyze import FacetName
from orch.nodes.base import AgentRef, Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.records import Task

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Decompose", "DecomposeConfig"]


class DecomposeConfig(NodeConfig):
    facets: tuple[FacetName, ...] = Field(
        ("concept_discrimination", "option_elimination", "reasoning_verification"), min_length=1
    )
    agent: AgentRef | None = None
    """If set (an agent id or role), this agent writes every facet; otherwise one facet per panel member."""


class Decompose(Node[DecomposeConfig]):
    kind = "decompose"

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        context = context_of(runtime, self.node_id)
        facets = self.config.facets
        if self.config.agent:
            agent = context.agent_for(self.config.agent, state)
            tasks = [Task(agent=agent, slot=i, facet=facet) for i, facet in enumerate(facets)]
        else:
            panel = context.panel_for(state)
            tasks = [Task(agent=agent, slot=0, facet=facets[i % len(facets)]) for i, agent in enumerate(panel)]
        return {"tasks": [t.model_dump() for t in tasks]}
