"""`analyze`: one agent writes a structured analysis of the question.

The reply is a grammar-enforced JSON `Analysis` whose strings and token budget are bounded
together (`schemas.AnalysisBudget`). If its answer still cannot be read, a second call asks for
the answer alone, constrained to the valid options; if that fails too, the analysis is kept and
counted invalid. Which path produced each analysis is recorded.
"""

from __future__ import annotations

import time
from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import Field

from orch.errors import BackendError
from orch.nodes.base import Node, NodeConfig, register_node
from orch.nodes.calls import usage_of
from orch.nodes.prompts import analysis_system, direct_system, question_block
from orch.nodes.reading import read_analysis, read_choice
from orch.nodes.runtime import RunContext
from orch.nodes.schemas import AnalysisBudget, analysis_schema, choice_schema, tokens_for
from orch.nodes.state import AgentOutput, Task, item_of

__all__ = ["Analyze", "AnalyzeConfig"]

FacetName = Literal["concept_discrimination", "option_elimination", "reasoning_verification"]


class AnalyzeConfig(NodeConfig):
    max_chars: int = Field(500, ge=100, le=4000)
    """Bound on the analysis text (key points plus per-option notes); the paper uses 500."""
    agent: str | None = None
    """The analyst when the node is not fanned out (an agent id or a role such as `merger`)."""
    facet: FacetName | None = None
    """A fixed facet for every copy; fan-outs over `tasks` bring their own."""
    choice_step: bool = True
    """When no answer is readable, ask once more for the answer alone, constrained to the options."""


@register_node
class Analyze(Node):
    kind = "analyze"
    Config = AnalyzeConfig
    agent_fields = ("agent",)
    config: AnalyzeConfig

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        item = item_of(state)
        agent, slot, fanned_out = self.assigned_agent(state, runtime)
        task = Task(agent=agent, slot=slot, facet=(state.get("facet") if fanned_out else None) or self.config.facet)
        client = runtime.context.client(task.agent)
        budget = AnalysisBudget.for_item(item, self.config.max_chars)
        system = analysis_system(
            item,
            n_points=budget.n_points,
            point_chars=budget.point_chars,
            note_chars=budget.note_chars,
            facet=task.facet,
        )
        messages = [SystemMessage(system), HumanMessage(question_block(item))]
        base = {"agent": task.agent, "node": self.node_id, "kind": "analysis", "slot": task.slot, "facet": task.facet}
        started = time.time()
        try:
            completion = await client.complete(
                messages, schema=analysis_schema(item, budget), schema_name="analysis", max_tokens=budget.max_tokens
            )
        except BackendError as exc:
            failed = AgentOutput(**base, path="error", error=str(exc), started_at=started, ended_at=time.time())
            return {"analyses": [failed.model_dump()]}
        analysis, path = read_analysis(completion.text, item)
        completions = [completion]
        if analysis.answer is None and self.config.choice_step:
            # The analysis stays as written; only the missing choice is asked for, constrained.
            followup = [
                SystemMessage(direct_system(item, reasoning_chars=0)),
                HumanMessage(f"{question_block(item)}\n\nAn analysis of it:\n{completion.text[:2000]}"),
            ]
            try:
                choice = await client.complete(
                    followup, schema=choice_schema(item), schema_name="choice", max_tokens=tokens_for(0, 1)
                )
                answer, _, _ = read_choice(choice.text, item)
                completions.append(choice)
                if answer is not None:
                    analysis = analysis.model_copy(update={"answer": answer})
                    path = "choice_step"
            except BackendError:
                pass  # the analysis is kept and counted invalid
        output = AgentOutput(
            **base,
            answer=analysis.answer,
            confidence=analysis.confidence,
            analysis=analysis,
            path=path,
            raw=completion.text,
            usage=usage_of(*completions),
            started_at=completions[0].started_at,
            ended_at=completions[-1].ended_at,
        )
        return {"analyses": [output.model_dump()]}
