"""`analyze`: one agent writes a structured analysis of the question.

The reply is a grammar-enforced JSON `Analysis` whose strings and token budget are bounded
together (`schemas.AnalysisBudget`). If its answer still cannot be read, a second call asks for
the answer alone, constrained to the valid options; if that fails too, the analysis is kept and
counted invalid. Which path produced each analysis is recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from orch.errors import BackendError
from orch.items import Item
from orch.nodes.base import AgentRef, CallLog, Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.nodes.distributions import answer_distribution
from orch.nodes.prompts import analysis_system, direct_system, question_block
from orch.nodes.reading import read_analysis, read_choice
from orch.nodes.schemas import AnalysisBudget, analysis_schema, choice_schema, tokens_for
from orch.nodes.state import item_of
from orch.records import AgentOutput, Analysis, ParsePath, Task

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Analyze", "AnalyzeConfig", "FacetName"]

FacetName = Literal["concept_discrimination", "option_elimination", "reasoning_verification"]


class AnalyzeConfig(NodeConfig):
    max_chars: int = Field(500, ge=100, le=4000)
    """Bound on the analysis text (key points plus per-option notes); the paper uses 500 on MMLU."""
    max_chars_by_source: dict[str, Annotated[int, Field(ge=100, le=4000)]] = Field(default_factory=dict)
    """Per item source (benchmark: `mmlu-pro`, `gsm8k`, …), a bound that replaces `max_chars` for
    its items; the paper caps analyses at 300 characters on MMLU-Pro and GSM8K."""
    agent: AgentRef | None = None
    """The analyst when the node is not fanned out (an agent id or a role such as `merger`)."""
    facet: FacetName | None = None
    """A fixed facet for every copy; fan-outs over `tasks` bring their own."""
    choice_step: bool = True
    """When no answer is readable, ask once more for the answer alone, constrained to the options."""


class Analyze(Node[AnalyzeConfig]):
    kind = "analyze"

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        from langchain_core.messages import HumanMessage, SystemMessage

        context = context_of(runtime, self.node_id)
        item = item_of(state)
        agent, slot, fanned_out = self.assigned_agent(state, context)
        task = self._task(state, agent, slot, fanned_out)
        calls = CallLog(context.client(task.agent))
        base = {"node": self.node_id, "kind": "analysis", **task.model_dump()}
        budget = AnalysisBudget.for_item(item, self.config.max_chars_by_source.get(item.source, self.config.max_chars))
        labels = item.letters if item.kind == "choice" else None
        system = analysis_system(
            item,
            n_points=budget.n_points,
            point_chars=budget.point_chars,
            note_chars=budget.note_chars,
            facet=task.facet,
            sub_question=task.sub_question,
        )
        try:
            completion = await calls.complete(
                [SystemMessage(system), HumanMessage(question_block(item))],
                schema=analysis_schema(item, budget),
                schema_name="analysis",
                max_tokens=budget.max_tokens,
                labels=labels,
            )
        except BackendError as exc:
            failed = AgentOutput(**base, path="error", error=str(exc), **calls.stamp())
            return {"analyses": [failed.model_dump()]}
        analysis, path = read_analysis(completion.text, item)
        if analysis.answer is None and self.config.choice_step:
            analysis, path = await self._choice_step(calls, item, completion.text, analysis, path)
        answered_by = calls.completions[-1] if path == "choice_step" else completion
        output = AgentOutput(
            **base,
            answer=analysis.answer,
            confidence=analysis.confidence,
            distribution=answer_distribution(answered_by, item) if analysis.answer is not None else None,
            analysis=analysis,
            path=path,
            raw=completion.text,
            **calls.stamp(),
        )
        return {"analyses": [output.model_dump()]}

    def _task(self, state: dict, agent: str, slot: int, fanned_out: bool) -> Task:
        """This copy's task: a fan-out payload brings its facet or sub-question (and any note about
        how it was assigned); otherwise `config.facet` applies."""
        if not fanned_out:
            return Task(agent=agent, slot=slot, facet=self.config.facet)
        return Task(
            agent=agent,
            slot=slot,
            facet=state.get("facet") or self.config.facet,
            sub_question=state.get("sub_question"),
            note=state.get("note") or "",
        )

    @staticmethod
    async def _choice_step(
        calls: CallLog, item: Item, text: str, analysis: Analysis, path: ParsePath
    ) -> tuple[Analysis, ParsePath]:
        """The analysis stays as written; only the missing choice is asked for, constrained."""
        from langchain_core.messages import HumanMessage, SystemMessage

        followup = [
            SystemMessage(direct_system(item, reasoning_chars=0)),
            HumanMessage(f"{question_block(item)}\n\nAn analysis of it:\n{text[:2000]}"),
        ]
        try:
            choice = await calls.complete(
                followup,
                schema=choice_schema(item),
                schema_name="choice",
                max_tokens=tokens_for(0, 1),
                labels=item.letters if item.kind == "choice" else None,
            )
        except BackendError:
            return analysis, path  # the analysis is kept and counted invalid
        answer, _, _ = read_choice(choice.text, item)
        if answer is None:
            return analysis, path
        return analysis.model_copy(update={"answer": answer}), "choice_step"
