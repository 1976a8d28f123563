"""`merge`: the merge agent reads every analysis and outputs one valid option.

Analyses are sorted by agent id (then slot) and, by default, anonymised as Analyst 1, 2, … so
the merger judges reasoning rather than names. If its reply cannot be read, a deterministic
fallback decides — a confidence-weighted vote, then the fixed agent order — and says so; with
`on_unreadable: invalid` the item has no answer instead, and is scored wrong, as the paper scored it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from orch.errors import BackendError
from orch.items import Item
from orch.nodes.base import AgentRef, CallLog, Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.nodes.profiles import AgentReliability, load_profile
from orch.nodes.prompts import merge_system, question_block
from orch.nodes.reading import read_choice
from orch.nodes.schemas import choice_schema, tokens_for
from orch.nodes.state import analyses_of, item_of
from orch.nodes.tally import tally, winner
from orch.records import AgentOutput, Decision

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Merge", "MergeConfig", "fallback_decision", "render_analyses"]


class MergeConfig(NodeConfig):
    agent: AgentRef = "merger"
    """The merge agent: an agent id or a role (the router sets `merger`)."""
    anonymise: bool = True
    """Show analysts as Analyst 1, 2, … (in agent-id order) instead of by name."""
    rationale_chars: int = Field(0, ge=0, le=2000)
    """0 asks for the letter only (the paper's merge); more asks for a bounded rationale first."""
    show_confidence: bool = True
    show_notes: bool = True
    """Include each analyst's per-option notes, not only key points and answer."""
    track_records: str | None = None
    """A reliability profile (see `weigh`): each analysis shows its analyst's measured accuracy,
    and the analyses come most reliable first instead of in agent-id order."""
    gate_margin: float | None = Field(None, ge=0)
    """After a `weigh` node: merge only when its margin (nats) is below this, else its decision
    stands and no merge call is made. None: always merge."""
    on_unreadable: Literal["fallback", "invalid"] = "fallback"
    """A reply with no readable answer: `fallback` decides by the panel (the weighted decision, else a
    confidence-weighted vote) and says so; `invalid` gives no answer, so the item is scored wrong (the
    paper's rule). A failed call is not a reply: it falls back either way."""


def render_analyses(
    outputs: Sequence[AgentOutput],
    item: Item,
    *,
    anonymise: bool,
    show_confidence: bool,
    show_notes: bool,
    missing: int = 0,
    records: Mapping[str, AgentReliability] | None = None,
) -> str:
    """The analyses as the merger reads them; `missing` analysts whose calls failed are said to be
    missing; with `records`, most reliable first, each with its track record."""
    if records is not None:
        outputs = sorted(outputs, key=lambda o: (-(records[o.agent].accuracy if o.agent in records else 0.0), o.agent))
    blocks = []
    for number, output in enumerate(outputs, start=1):
        name = f"Analyst {number}" if anonymise else f"Analyst {output.agent}"
        proposed = output.answer if output.answer is not None else "no readable answer"
        head = f"{name} proposes: {proposed}"
        if show_confidence and output.confidence is not None:
            head += f" (confidence {round(output.confidence * 100)}/100)"
        if records is not None and (record := records.get(output.agent)) is not None:
            head += f" [track record: {record.accuracy:.0%} right on {record.answered} earlier questions]"
        lines = [head]
        analysis = output.analysis
        if analysis and analysis.key_points:
            lines += ["Key points:", *(f"- {p}" for p in analysis.key_points)]
        if show_notes and analysis and analysis.eliminations:
            lines += ["Option notes:", *(f"{k}: {v}" for k, v in sorted(analysis.eliminations.items()))]
        if output.reasoning:
            lines += [f"Reasoning: {output.reasoning}"]
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks) if blocks else "(no analyses were produced)"
    if missing:
        text += f"\n\n({missing} more analyst{'s' * (missing > 1)} could not be reached: their analyses are missing.)"
    return text


def fallback_decision(outputs: Sequence[AgentOutput], priority: Sequence[str], *, node: str, note: str) -> Decision:
    """Confidence-weighted vote over the analyses; a tie goes to the first agent in priority order."""
    votes = tally(outputs, weight="confidence")
    answer, tie_broken = winner(votes, outputs, priority)
    method = "none" if answer is None else ("merge_fallback_order" if tie_broken else "merge_fallback_vote")
    return Decision(answer=answer, node=node, method=method, tally=votes, note=note)


class Merge(Node[MergeConfig]):
    kind = "merge"
    decides = True

    def __init__(self, node_id: str, config: MergeConfig | None = None) -> None:
        """A `track_records` profile is read now, when the graph is compiled."""
        super().__init__(node_id, config)
        ref = self.config.track_records
        self._records = load_profile(ref, field=f"nodes.{node_id}.config.track_records") if ref else None

    def state_versions(self) -> dict[str, str]:
        return {self._records.name: self._records.label} if self._records is not None else {}

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        from langchain_core.messages import HumanMessage, SystemMessage

        weighed = state.get("decision")
        gate = self.config.gate_margin
        if gate is not None and weighed and weighed.get("margin") is not None and weighed["margin"] >= gate:
            note = f"{weighed.get('note', '')}; merge skipped: the weighted panel is decisive (gate {gate:g})"
            return {"decision": {**weighed, "gated": True, "note": note.lstrip("; ")}}
        context = context_of(runtime, self.node_id)
        item = item_of(state)
        everything = analyses_of(state)
        if any(o.kind == "analysis" for o in everything):  # direct answers beside analyses: weighed, not read
            everything = [o for o in everything if o.kind == "analysis"]
        outputs = [o for o in everything if o.path != "error"]
        agent = context.agent_for(self.config.agent, state)
        rendered = render_analyses(
            outputs,
            item,
            anonymise=self.config.anonymise,
            show_confidence=self.config.show_confidence,
            show_notes=self.config.show_notes,
            missing=len(everything) - len(outputs),
            records=self._records.agents if self._records is not None else None,
        )
        messages = [
            SystemMessage(merge_system(item, rationale_chars=self.config.rationale_chars)),
            HumanMessage(f"{question_block(item)}\n\nAnalyses:\n\n{rendered}"),
        ]
        schema = choice_schema(item, reasoning_chars=self.config.rationale_chars, reasoning_field="rationale")
        calls = CallLog(context.client(agent))
        try:
            completion = await calls.complete(
                messages, schema=schema, schema_name="merge", max_tokens=tokens_for(self.config.rationale_chars, 2)
            )
        except BackendError as exc:
            decision = self._fallback(weighed, outputs, context.priority, "merge call failed")
            update = {"agent": agent, "error": str(exc), **calls.stamp()}
            return {"decision": decision.model_copy(update=update).model_dump()}
        answer, path, _ = read_choice(completion.text, item)
        common = {"agent": agent, "raw": completion.text, **calls.stamp()}
        if answer is not None:
            decision = Decision(answer=answer, node=self.node_id, method="merge", path=path, **common)
        elif self.config.on_unreadable == "invalid":
            note = "merge reply unreadable: no answer, scored wrong (on_unreadable: invalid)"
            decision = Decision(answer=None, node=self.node_id, method="none", path="invalid", note=note, **common)
        else:
            fallback = self._fallback(weighed, outputs, context.priority, "merge reply unreadable")
            decision = fallback.model_copy(update={"path": "invalid", **common})
        return {"decision": decision.model_dump()}

    def _fallback(
        self, weighed: dict | None, outputs: Sequence[AgentOutput], priority: Sequence[str], why: str
    ) -> Decision:
        """The weighted decision before this merge, if any; else the confidence-weighted vote."""
        if weighed and weighed.get("method") == "weighted" and weighed.get("answer") is not None:
            before = Decision.model_validate(weighed)
            return before.model_copy(update={"method": "merge_fallback_weighted", "note": f"{why}; {before.note}"})
        return fallback_decision(outputs, priority, node=self.node_id, note=why)
