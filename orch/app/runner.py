"""A compiled graph bound to a pool of agents: answers items, one or many, and times the phases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orch.backends.pool import AgentPool
from orch.graphs.compile import BUILTIN_ROLES, CompiledSpec, build_state_graph
from orch.items import Item
from orch.nodes.runtime import RunContext
from orch.nodes.state import AgentOutput, Decision, Usage, sorted_outputs

if TYPE_CHECKING:
    from orch.routers.service import RouterService

__all__ = ["GraphRunner", "ItemResult"]

ItemContext = Callable[[Item], AbstractContextManager[Callable[["ItemResult"], None] | None]]
"""Wraps each item's graph call (MLflow uses it for one trace per item); yields a finisher."""


class ItemResult(BaseModel):
    """Everything one item's run produced, flat enough for a table row."""

    item: Item
    graph: str
    answer: str | None
    correct: bool | None
    """None when the item has no gold answer."""
    decision: Decision
    analyses: list[AgentOutput]
    panel: list[str]
    roles: dict[str, str]
    latency_ms: float
    analysis_ms: float
    """From the first analysis (or fanned-out answer) call's start to the last one's end."""
    decision_ms: float
    """Duration of the deciding step: the merge call, a single direct answer, or a vote (~0)."""
    usage: Usage
    routing: dict | None = None
    """The router's decision for this item (panel, merger, utilities, state version), if routed."""
    feedback: dict | None = None
    """The observations the router learned from this item, if routed."""

    @property
    def valid(self) -> bool:
        return self.answer is not None


def _span_ms(records: Iterable[AgentOutput | Decision]) -> float:
    spans = [(r.started_at, r.ended_at) for r in records if r.started_at and r.ended_at]
    return (max(e for _, e in spans) - min(s for s, _ in spans)) * 1000 if spans else 0.0


class GraphRunner:
    """Runs one compiled spec over items with a given pool.

    Args:
        compiled: a spec checked by `compile_spec`.
        pool: the agents (started local servers or given chat models).
        panel: analysts for `fan_out: panel`; defaults to the spec's, then the pool's.
        roles: role overrides on top of the pool's and the spec's.
    """

    def __init__(
        self,
        compiled: CompiledSpec,
        pool: AgentPool,
        *,
        panel: Sequence[str] | None = None,
        roles: dict[str, str] | None = None,
        router: RouterService | None = None,
    ) -> None:
        spec, config = compiled.spec, pool.config
        self.compiled = compiled
        self.pool = pool
        self.graph = build_state_graph(compiled).compile(name=spec.name)
        self.panel = list(panel or spec.panel or config.default_panel)
        self.roles = {**{r: config.role(r) for r in BUILTIN_ROLES}, **config.roles, **spec.roles, **(roles or {})}
        self.router = router

    @property
    def name(self) -> str:
        return self.compiled.spec.name

    async def answer(self, item: Item, *, item_context: ItemContext | None = None) -> ItemResult:
        with (item_context or (lambda _: nullcontext()))(item) as finish:
            started = time.perf_counter()
            state: dict[str, Any] = await self.graph.ainvoke(
                {"item": item.model_dump(), "panel": self.panel, "roles": self.roles},
                context=RunContext(pool=self.pool, router=self.router),
            )
            latency_ms = (time.perf_counter() - started) * 1000
            decision = Decision.model_validate(state["decision"])
            analyses = sorted_outputs(state)
            usage = sum((a.usage for a in analyses), Usage()) + decision.usage
            result = ItemResult(
                item=item,
                graph=self.name,
                answer=decision.answer,
                correct=None if item.answer is None else decision.answer == item.answer,
                decision=decision,
                analyses=analyses,
                panel=self.panel,
                roles=self.roles,
                latency_ms=latency_ms,
                analysis_ms=_span_ms([a for a in analyses if a.node != decision.node]),
                decision_ms=_span_ms([decision]),
                usage=usage,
                routing=state.get("routing"),
                feedback=state.get("feedback"),
            )
            if self.router is not None:
                self.router.report(item.id, [])  # no-op if a feedback node already reported
            if finish is not None:
                finish(result)
        return result

    async def answer_all(
        self,
        items: Sequence[Item],
        *,
        concurrency: int = 1,
        on_result: Callable[[ItemResult], None] | None = None,
        item_context: ItemContext | None = None,
    ) -> list[ItemResult]:
        """Answer items with at most `concurrency` in flight; results come back in item order.

        `on_result` sees each result as soon as it exists (progress bars, durable writes).
        """
        limit = asyncio.Semaphore(max(1, concurrency))
        if self.router is not None:
            self.router.set_order([item.id for item in items])  # keeps an order set earlier (resume)

        async def one(item: Item) -> ItemResult:
            async with limit:
                result = await self.answer(item, item_context=item_context)
            if on_result is not None:
                on_result(result)
            return result

        # A task group cancels the items still in flight when one fails or the run is interrupted;
        # the first failure is re-raised as itself, so callers catch `OrchError` and friends as usual.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(item)) for item in items]
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]
