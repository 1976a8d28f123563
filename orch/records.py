"""The records every layer shares: what a call, an analysis, a decision, a routing choice and a
finished item look like. A leaf module: it imports nothing of orch but `Item`, so the backends,
the nodes, the router and the evaluation all speak the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from orch.items import Item

__all__ = [
    "AgentOutput",
    "Analysis",
    "Completion",
    "Decision",
    "Dispatch",
    "FeedbackRecord",
    "ItemResult",
    "ItemStatus",
    "LabelLogprobs",
    "Observation",
    "ParsePath",
    "RoutingDecision",
    "Task",
    "Usage",
]

ParsePath = Literal[
    "json",  # the structured reply parsed as sent (strict JSON)
    "json_tolerant",  # JSON repaired (fences, prose around it, cut by max_tokens)
    "answer_line",  # no usable JSON; a clear "Answer: X" statement
    "bare",  # the reply was just the letter
    "last_number",  # numeric items: the last number in the text
    "choice_step",  # the analysis had no answer; a second, constrained call chose one
    "invalid",  # nothing readable: counted as invalid, never mapped to an option
    "error",  # the call itself failed (timeout, refused connection, 5xx)
]


ItemStatus = Literal["ok", "degraded", "failed"]
"""`ok`: every call succeeded. `degraded`: some call failed but an answer was still decided (an
analyst missing, a merge that fell back to the vote). `failed`: calls failed and no answer was
decided — never stored as a finished result, so the next run retries the item."""


class Completion(BaseModel):
    """What one model call returned, with its measured cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    """Time inside the call, after a budget slot was granted."""
    queued_ms: float = 0.0
    """Time spent waiting for a budget slot."""
    cost: float = 0.0
    finish_reason: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    cached: bool = False
    """Served from the call cache: no model ran; tokens, cost and latency are the original call's."""
    retries: int = 0
    """Attempts that failed (429, 5xx, timeouts, malformed replies...) before this one succeeded."""
    label_logprobs: list[LabelLogprobs] | None = None
    """Where the reply wrote an option label, the labels' log-probabilities (asked for with
    `labels`); None when they were not asked for or the endpoint sent none."""


class LabelLogprobs(BaseModel):
    """One position of a reply where the model wrote an option label: the text before it and the
    log-probability of each label among the endpoint's top alternatives there."""

    model_config = ConfigDict(frozen=True)

    before: str
    """Up to 40 characters of the reply before this token (to tell an answer from a mention)."""
    logprobs: dict[str, float]


class Usage(BaseModel):
    """Tokens, cost and model time of the calls behind one record."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    queued_ms: float = 0.0
    retries: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    @classmethod
    def of(cls, completions: Iterable[Completion]) -> Usage:
        """The summed usage of some calls: the one place a node's bookkeeping is added up."""
        total = cls()
        for c in completions:
            total = total + cls(
                calls=1,
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
                cost=c.cost,
                latency_ms=c.latency_ms,
                queued_ms=c.queued_ms,
                retries=c.retries,
            )
        return total


class Analysis(BaseModel):
    """One analyst's structured analysis; its field descriptions are the prompt's vocabulary."""

    key_points: list[str] = Field(default_factory=list, description="the facts or steps that decide the question")
    eliminations: dict[str, str] = Field(
        default_factory=dict, description="per option letter, why that option is right or wrong"
    )
    answer: str | None = Field(None, description="the option letter (or number) the analyst believes")
    confidence: float | None = Field(None, ge=0, le=1, description="0 to 1")


class AgentOutput(BaseModel):
    """An analysis or a direct answer, with where it came from and how it was read."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    node: str
    kind: Literal["analysis", "direct"]
    slot: int = 0
    """Position of the task within its fan-out: one agent may write several analyses (facets)."""
    facet: str | None = None
    sub_question: str | None = None
    """The dispatcher's item-specific sub-question this analysis focused on (instead of a facet)."""
    note: str = ""
    """How its task was assigned when that differs from what the graph asked for (see `Task.note`)."""
    answer: str | None = None
    confidence: float | None = None
    distribution: dict[str, float] | None = None
    """The agent's probability for each option where it wrote its answer (token log-probabilities,
    see `orch.nodes.distributions`); None when the endpoint sent none."""
    analysis: Analysis | None = None
    reasoning: str | None = None
    path: ParsePath
    raw: str = ""
    error: str | None = None
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def witness(self) -> str:
        """Whose evidence this is, for reliability weights: the agent for an analysis, `<agent>/direct`
        for its direct answer (the two are measured apart: a model's letter and its analysis differ)."""
        return self.agent if self.kind == "analysis" else f"{self.agent}/{self.kind}"


class Decision(BaseModel):
    """The graph's final choice and the rule that made it."""

    model_config = ConfigDict(extra="forbid")

    answer: str | None
    node: str
    method: str
    """The rule that decided. orch's own: `merge`, `merge_fallback_vote`, `merge_fallback_order`,
    `merge_fallback_weighted`, `vote`, `weighted` (a `weigh` node, or a gated merge that did not
    run), `direct`, and `none` (no valid answer); a user's node names its own."""
    agent: str | None = None
    path: ParsePath | None = None
    raw: str = ""
    tally: dict[str, float] = Field(default_factory=dict)
    """Votes (or confidence-weighted votes) per answer behind a vote or a fallback."""
    note: str = ""
    margin: float | None = None
    """A weighted decision's winning score minus the runner-up's (nats): how decisive the panel was."""
    gated: bool = False
    """The merge did not run: the weighted panel was decisive (the merge's `gate_margin`)."""
    error: str | None = None
    """Why the deciding call failed, when it did (the decision then fell back, or has no answer)."""
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0


class Task(BaseModel):
    """One analyst assignment produced by a fan-out: which agent, and what to focus on."""

    agent: str
    slot: int = 0
    facet: str | None = None
    sub_question: str | None = None
    """The dispatcher's item-specific sub-question, which takes a facet's place in the prompt."""
    note: str = ""
    """Why the task is not what the graph asked for, so it is never silent: the dispatcher failed or
    its reply was unreadable (the fixed facet stands in), or the item's source takes no facets."""


class Dispatch(BaseModel):
    """The dispatcher's one call for an item: the sub-questions it wrote, or why they were not used.

    Kept apart from the analyses so merges and votes never read it as one, and counted in the item's
    usage like every other call.
    """

    model_config = ConfigDict(extra="forbid")

    agent: str
    node: str
    sub_questions: list[str] = Field(default_factory=list)
    """Empty when the fixed facets stood in."""
    fallback: str | None = None
    """Why the fixed facets stood in (the call failed, or its reply was unreadable); None when the
    sub-questions were used."""
    raw: str = ""
    error: str | None = None
    """Why the call failed, when it did (the item is then degraded, not failed)."""
    usage: Usage = Usage()
    started_at: float = 0.0
    ended_at: float = 0.0


class Observation(BaseModel):
    """What one agent did on one item: the feedback an EMA update consumes."""

    model_config = ConfigDict(frozen=True)

    agent: str
    item_id: str
    category: str | None = None
    correct: float | None = None
    """1 if right, 0 if wrong (the mean over several analyses of one agent); None: no gold (yet)."""
    latency_ms: float | None = None
    cost: float | None = None
    ok: bool | None = None
    """The calls succeeded (stability). None for every signal the observation does not carry:
    delayed feedback brings accuracy alone, since latency and cost were known at prediction time."""


class RoutingDecision(BaseModel):
    """Who analyses and who merges for one item, and the numbers behind it."""

    panel: list[str]
    merger: str
    ranking: list[str]
    probe: list[str] = Field(default_factory=list)
    """Agents outside the panel that also answer directly on this item, only to be observed (the probe)."""
    utilities: dict[str, float]
    ema: dict[str, dict[str, float]]
    """Per agent: the EMA values ranked on (accuracy, latency_ms, cost, stability) and n."""
    state_version: int
    state_hash: str
    category: str | None = None
    router_id: str = ""


class FeedbackRecord(BaseModel):
    """What a routed item taught its router: one observation per agent."""

    source: Literal["answers", "direct"]
    extra_calls: int = 0
    """Calls made only to observe agents (feedback `direct`, or the probe); counted in the item's usage too."""
    probed: list[str] = Field(default_factory=list)
    """Agents outside the panel observed through the probe on this item."""
    observations: list[Observation] = Field(default_factory=list)


class ItemResult(BaseModel):
    """Everything one item's run produced, flat enough for a table row."""

    item: Item
    graph: str
    answer: str | None
    correct: bool | None
    """None when the item has no gold answer, or failed (a failure is not scored as a wrong answer)."""
    decision: Decision
    analyses: list[AgentOutput]
    """In (agent id, slot) order, whatever order the calls finished in."""
    panel: list[str]
    """The analysts this item actually had (the router's choice for a routed graph)."""
    roles: dict[str, str]
    """The roles this item actually had (a routed graph's merger is the router's choice)."""
    wall_ms: float = Field(validation_alias=AliasChoices("wall_ms", "latency_ms"))
    """Wall time of the whole graph call (includes waiting for budget slots and other items)."""
    analysis_ms: float
    """From the first analysis (or fanned-out answer) call's start to the last one's end."""
    decision_ms: float
    """Duration of the deciding step: the merge call, a single direct answer, or a vote (~0)."""
    usage: Usage
    routing: RoutingDecision | None = None
    """The router's decision for this item, if routed."""
    feedback: FeedbackRecord | None = None
    """The observations the router learned from this item, if routed."""
    dispatch: Dispatch | None = None
    """The dispatcher's call, for graphs whose `decompose` node asks one for sub-questions."""
    status: ItemStatus = "ok"
    failures: list[str] = Field(default_factory=list)
    """One reason per failed call (`agent: why`), for a degraded or failed item."""

    @property
    def valid(self) -> bool:
        return self.answer is not None

    def shown_as(self, output: AgentOutput) -> str:
        """An output's name in tables and summaries: its agent, or its witness (`<agent>/direct`)
        where direct answers stand beside analyses."""
        return output.witness if len({a.kind for a in self.analyses}) > 1 else output.agent

    @property
    def model_ms(self) -> float:
        """Model time: the item's calls summed (cached calls count their original time). The one
        latency orch reports, in MLflow and in evaluation reports alike."""
        return self.usage.latency_ms
