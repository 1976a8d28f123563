"""`decompose`: what each analyst focuses on — a fixed facet, a dispatcher's sub-question, or nothing.

By default no model call: the three fixed facets are assigned in panel order (cycling if the panel
is larger). With `source: dispatcher`, one agent first writes an item-specific sub-question per
facet slot (the paper's protocol on MMLU); if its call fails or its reply cannot be read, the fixed
facets stand in slot for slot and every task says why. Items whose source is in `skip_sources` get
no focus at all (the paper used none on MMLU-Pro and GSM8K). With `agent` set, one agent writes
every analysis — diversity from one strong model's different viewpoints instead of from weak models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from orch.items import Item
from orch.nodes.analyze import FacetName
from orch.nodes.base import AgentRef, CallLog, Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.nodes.dispatch import write_sub_questions
from orch.nodes.state import item_of
from orch.records import Task

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Decompose", "DecomposeConfig"]

Focus = tuple[str | None, str | None]
"""(facet, sub-question) of one slot; at most one is set."""


class DecomposeConfig(NodeConfig):
    facets: tuple[FacetName, ...] = Field(
        ("concept_discrimination", "option_elimination", "reasoning_verification"), min_length=1
    )
    """The fixed facets, one per slot. With `source: dispatcher` they also set how many sub-questions
    are asked for (one per facet) and stand in, slot for slot, when the dispatcher fails."""
    agent: AgentRef | None = None
    """If set (an agent id or role), this agent writes every facet; otherwise one facet per panel member."""
    source: Literal["fixed", "dispatcher"] = "fixed"
    """`fixed`: the facets' own texts (orch's default). `dispatcher`: the `dispatcher` agent writes one
    item-specific sub-question per facet, which takes the facet's place in the analyst's prompt (the
    paper's protocol on MMLU): one more call per item, counted in its usage."""
    dispatcher: AgentRef | None = None
    """Who writes the sub-questions with `source: dispatcher`: an agent id or a role (the paper: the
    top agent, which also merges — `merger`)."""
    max_chars: int = Field(40, ge=10, le=300)
    """Bound on each sub-question, in the schema and again when it is read (the paper: 40)."""
    skip_sources: tuple[str, ...] = ()
    """Item sources (benchmarks such as `mmlu-pro`, `gsm8k`) whose items get neither facets nor
    sub-questions: each analyst studies the bare question, and no dispatcher call is made. The paper
    decomposed MMLU only."""

    @model_validator(mode="after")
    def _dispatcher_named(self) -> DecomposeConfig:
        if self.source == "dispatcher" and not self.dispatcher:
            raise ValueError("source: dispatcher needs dispatcher: <an agent id or a role such as merger>")
        return self


class Decompose(Node[DecomposeConfig]):
    kind = "decompose"

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        context = context_of(runtime, self.node_id)
        item = item_of(state)
        agents = [context.agent_for(self.config.agent, state)] if self.config.agent else context.panel_for(state)
        if item.source in self.config.skip_sources:
            note = f"no facets: {item.source} items take none (skip_sources)"
            return {"tasks": self._tasks(agents, [(None, None)], note)}
        if self.config.source == "fixed":
            return {"tasks": self._tasks(agents, [(facet, None) for facet in self.config.facets], "")}
        focuses, note, dispatch = await self._dispatch(item, state, context)
        return {"tasks": self._tasks(agents, focuses, note), "dispatch": dispatch}

    async def _dispatch(self, item: Item, state: dict, context: RunContext) -> tuple[list[Focus], str, dict]:
        """The dispatcher's sub-questions, or the fixed facets with the reason they stand in."""
        agent = context.agent_for(self.config.dispatcher or "", state)
        facets = self.config.facets
        dispatch = await write_sub_questions(
            CallLog(context.client(agent)),
            item,
            agent=agent,
            node=self.node_id,
            n=len(facets),
            chars=self.config.max_chars,
        )
        if dispatch.fallback:
            return (
                [(facet, None) for facet in facets],
                f"{dispatch.fallback}; the fixed facets stand in",
                dispatch.model_dump(),
            )
        return [(None, question) for question in dispatch.sub_questions], "", dispatch.model_dump()

    def _tasks(self, agents: list[str], focuses: list[Focus], note: str) -> list[dict]:
        """One agent (`agent` set) takes every slot; otherwise the panel takes the slots in order, cycling."""
        if self.config.agent:
            assigned = [(agents[0], slot, focus) for slot, focus in enumerate(focuses)]
        else:
            assigned = [(agent, 0, focuses[i % len(focuses)]) for i, agent in enumerate(agents)]
        return [
            Task(agent=agent, slot=slot, facet=facet, sub_question=question, note=note).model_dump()
            for agent, slot, (facet, question) in assigned
        ]
