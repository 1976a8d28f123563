"""A compiled graph bound to its run context: answers items, one or many, and times the phases.

The same four calls as any LangGraph graph — `invoke`, `ainvoke`, `batch`, `abatch` — taking
`Item`s and returning `ItemResult`s; `batch`/`abatch` take a run's budget too (`orch.nodes.budgets`).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from orch.items import Item
from orch.nodes.budgets import ItemSpend, RunBudget, spending
from orch.nodes.context import RunContext
from orch.nodes.state import analyses_of
from orch.records import AgentOutput, Decision, Dispatch, FeedbackRecord, ItemResult, RoutingDecision, Usage

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

__all__ = ["GraphRunner", "ItemContext", "item_result"]

ItemContext = Callable[[Item], AbstractContextManager[Callable[[ItemResult], None] | None]]
"""Wraps each item's graph call (MLflow uses it for one trace per item); yields a finisher."""


def _span_ms(records: Iterable[AgentOutput | Decision]) -> float:
    spans = [(r.started_at, r.ended_at) for r in records if r.started_at and r.ended_at]
    return (max(e for _, e in spans) - min(s for s, _ in spans)) * 1000 if spans else 0.0


_GC_GEN0_THRESHOLD = 10_000
"""Allocations between young-generation collections during a batch (Python's default: 700)."""


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect the young generation less often while items are in flight: a graph step allocates
    thousands of short-lived objects, and with Python's default threshold the cyclic collector ran
    ~3 times per item and took 28% of the event loop at 64 items in flight (measured with
    `gc.callbacks`; 10,000 cut it to 8%, CPU per item 7.7 → 5.9 ms). The setting is restored after."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], _GC_GEN0_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def item_result(name: str, item: Item, state: Mapping[str, Any], context: RunContext, wall_ms: float) -> ItemResult:
    """The `ItemResult` of one graph call's final state: its status (`ok`, `degraded`, `failed`) and
    failures, scored against the gold answer, usage summed over its calls. A host that runs the
    graph itself (LangGraph's server, `orch.serve`) builds its output here too."""
    decision = Decision.model_validate(state["decision"])
    analyses = analyses_of(state)
    dispatch = Dispatch.model_validate(state["dispatch"]) if state.get("dispatch") else None
    failures = [f"{a.agent}: {a.error}" for a in analyses if a.path == "error"]
    if dispatch is not None and dispatch.error:
        failures.append(f"{dispatch.agent}: {dispatch.error}")
    if decision.error:
        failures.append(f"{decision.agent or decision.node}: {decision.error}")
    status = "ok" if not failures else ("failed" if decision.answer is None else "degraded")
    return ItemResult(
        item=item,
        graph=name,
        answer=decision.answer,
        correct=None if item.answer is None or status == "failed" else decision.answer == item.answer,
        decision=decision,
        analyses=analyses,
        panel=context.panel_for(state),
        roles=context.roles_for(state),
        wall_ms=wall_ms,
        analysis_ms=_span_ms([a for a in analyses if a.node != decision.node]),
        decision_ms=_span_ms([decision]),
        usage=sum((a.usage for a in analyses), dispatch.usage if dispatch else Usage()) + decision.usage,
        routing=RoutingDecision.model_validate(state["routing"]) if state.get("routing") else None,
        feedback=FeedbackRecord.model_validate(state["feedback"]) if state.get("feedback") else None,
        dispatch=dispatch,
        status=status,
        failures=failures,
    )


class GraphRunner:
    """Runs one compiled graph over items with one run context.

    Args:
        name: the graph's name, recorded on each result.
        graph: the compiled LangGraph graph.
        context: the agents, default panel and roles, and the router (see `RunContext`).
        item_context: wraps each item's call (one MLflow trace per item).
    """

    def __init__(
        self, name: str, graph: CompiledStateGraph, context: RunContext, *, item_context: ItemContext | None = None
    ) -> None:
        self.name = name
        self.graph = graph
        self.context = context
        self.item_context = item_context

    async def ainvoke(self, item: Item) -> ItemResult:
        return await self._answer(item, None)

    async def _answer(self, item: Item, budget: RunBudget | None) -> ItemResult:
        """One item's graph call; under a budget, metered and cut off past the item's wall time."""
        with (self.item_context or (lambda _: nullcontext()))(item) as finish:
            started = time.perf_counter()
            if budget is None:
                state: dict[str, Any] = await self.graph.ainvoke({"item": item.model_dump()}, context=self.context)
                result = self._result(item, state, (time.perf_counter() - started) * 1000)
            else:
                result = await self._budgeted(item, budget, started)
            if self.context.router is not None:
                self.context.router.report(item.id, [])  # no-op if a feedback node already reported
            if finish is not None:
                finish(result)
        return result

    async def _budgeted(self, item: Item, budget: RunBudget, started: float) -> ItemResult:
        limit = budget.budgets.item_max_time
        with spending(budget.item()) as spend:
            try:
                async with asyncio.timeout(limit) as scope:
                    state = await self.graph.ainvoke({"item": item.model_dump()}, context=self.context)
            except TimeoutError:
                if not scope.expired():
                    raise
                return self._cut_off(item, spend, (time.perf_counter() - started) * 1000, limit or 0.0)
        return self._result(item, state, (time.perf_counter() - started) * 1000)

    def _cut_off(self, item: Item, spend: ItemSpend, wall_ms: float, limit: float) -> ItemResult:
        """An item stopped by its time budget: failed (never an answer), so the next run retries it.
        The calls it finished before the cut are kept in its usage: they were paid for."""
        reason = f"time budget: cut off after {wall_ms / 1000:.1f} s of {limit:g} s"
        decision = Decision(answer=None, node="budget", method="none", error=reason)
        return ItemResult(
            item=item,
            graph=self.name,
            answer=None,
            correct=None,
            decision=decision,
            analyses=[],
            panel=self.context.panel_for({}),
            roles=self.context.roles_for({}),
            wall_ms=wall_ms,
            analysis_ms=0.0,
            decision_ms=0.0,
            usage=Usage.of(spend.completions),
            status="failed",
            failures=[reason],
        )

    def _result(self, item: Item, state: dict[str, Any], wall_ms: float) -> ItemResult:
        return item_result(self.name, item, state, self.context, wall_ms)

    def invoke(self, item: Item) -> ItemResult:
        return asyncio.run(self.ainvoke(item))

    async def abatch(
        self,
        items: Sequence[Item],
        *,
        concurrency: int = 1,
        on_result: Callable[[ItemResult], None] | None = None,
        budget: RunBudget | None = None,
    ) -> list[ItemResult]:
        """Answer items with at most `concurrency` in flight; results come back in item order.

        `on_result` sees each result as soon as it exists (progress bars, durable writes). Under a
        `budget`, an item starts only while the run's budget lasts: once it is reached the items in
        flight finish and the rest are not started (left out of the results, counted in the budget).
        """
        limit = asyncio.Semaphore(max(1, concurrency))
        if self.context.router is not None:
            self.context.router.set_order([item.id for item in items])  # keeps an order set earlier (resume)

        async def one(item: Item) -> ItemResult | None:
            async with limit:
                if budget is not None and not budget.admit():
                    return None
                result = await self._answer(item, budget)
            if on_result is not None:
                on_result(result)
            return result

        # A task group cancels the items still in flight when one fails or the run is interrupted;
        # the first failure is re-raised as itself, so callers catch `OrchError` and friends as usual.
        try:
            with _fewer_collections():
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(one(item)) for item in items]
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [result for task in tasks if (result := task.result()) is not None]

    def batch(
        self,
        items: Sequence[Item],
        *,
        concurrency: int = 1,
        on_result: Callable[[ItemResult], None] | None = None,
        budget: RunBudget | None = None,
    ) -> list[ItemResult]:
        return asyncio.run(self.abatch(items, concurrency=concurrency, on_result=on_result, budget=budget))
