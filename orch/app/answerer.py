"""Answering items one at a time with the agents started once: what a server needs (`orch serve`).

`orch ask` starts its agents, answers, logs one MLflow run and stops them again: seconds of
start-up per question. Here the graphs' sessions start once, on one agent pool (a local model
serves every graph that uses it), and each answer is still its own MLflow run with `orch ask`'s
keys (experiment `orch-serve`), minus what is the same for every request (the graph's pictures:
`orch graph draw` draws them) and with its trace stored on the run's own thread (a writer process
per request would cost more than the trace). MLflow's blocking work never runs on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from orch.errors import ConfigError

if TYPE_CHECKING:
    from orch.app.runner import GraphRunner
    from orch.app.session import Session
    from orch.items import Item
    from orch.mlflow_config import MlflowSettings
    from orch.records import ItemResult

__all__ = ["Answer", "Answerer", "start_answerers"]

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    result: ItemResult
    run_id: str | None
    """The answer's MLflow run (experiment `orch-serve`); None when tracking is off."""
    tracking_uri: str | None = None


@asynccontextmanager
async def _exited_off_the_loop(manager: AbstractContextManager[T]) -> AsyncIterator[T]:
    """A context manager whose exit blocks (ending an MLflow run), exited on a worker thread."""
    value = manager.__enter__()
    try:
        yield value
    except BaseException as exc:
        if not await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await asyncio.to_thread(manager.__exit__, None, None, None)


class Answerer:
    """One started graph answering items; `answer` may be awaited by many requests at once.

    Args:
        session: the graph's session, started (its router open, if routed).
        runner: what `session.start` yielded.
        tracking: MLflow settings, or None for no tracking at all.
        slots: shared by every graph of one server: items in flight at once (others wait).
    """

    def __init__(
        self, session: Session, runner: GraphRunner, *, tracking: MlflowSettings | None, slots: asyncio.Semaphore
    ) -> None:
        self.session = session
        self.runner = runner
        self.tracking = tracking
        self._slots = slots

    @property
    def name(self) -> str:
        return self.session.graph.name

    async def answer(self, item: Item) -> Answer:
        """The graph's answer to `item`, logged as one MLflow run unless tracking is off (a failed
        item's run ends FAILED). Raises what the graph raises (`OrchError` for a backend that failed
        beyond its calls, such as a local server that died)."""
        async with self._slots:
            try:
                if self.tracking is None:
                    return Answer(await self.runner.ainvoke(item), None)
                return await self._tracked(item, self.tracking)
            finally:
                # A routed graph routes request i once those before it are reported: one that failed
                # or was cancelled must count too (as no feedback), or every later request would wait.
                if (router := self.runner.context.router) is not None:
                    router.report(item.id, [])

    async def _tracked(self, item: Item, settings: MlflowSettings) -> Answer:
        from orch.app.recording import log_answer, run_params
        from orch.app.runner import GraphRunner
        from orch.tracking import Tracker

        tracker = Tracker(settings, inline_traces=True)
        opened = tracker.open_run(
            tracker.experiment_name("serve"), f"serve {self.name}", tags={"orch.command": "serve"}
        )
        async with _exited_off_the_loop(opened):
            tracker.in_background(lambda: tracker.log_params(run_params(self.session, item_id=item.id)))
            runner = GraphRunner(
                self.runner.name, self.runner.graph, self.runner.context, item_context=tracker.item_trace
            )
            result = await runner.ainvoke(item)
            await asyncio.to_thread(log_answer, tracker, result)
        run_id = tracker.run_id or ""
        if result.status == "failed":
            await asyncio.to_thread(tracker.end_as, run_id, "FAILED")
        return Answer(result, run_id, tracker.tracking_uri)


@contextmanager
def start_answerers(
    sessions: Sequence[Session], *, router: str, tracking: MlflowSettings | None, concurrency: int
) -> Iterator[dict[str, Answerer]]:
    """Start one agent pool for every session's agents, then each session on it: graph name → answerer.

    Raises:
        ConfigError: two graphs share a name, or more than one is routed (their router would be shared).
    """
    from orch.app.session import RouterOptions
    from orch.backends.pool import AgentPool

    names = [s.graph.name for s in sessions]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ConfigError("--graph", None, f"graph {duplicate!r} is given twice: each model id is served once")
    routed = [s.graph.name for s in sessions if s.graph.route is not None]
    if len(routed) > 1:
        raise ConfigError("--graph", None, f"{routed} are all routed: serve one routed graph per process")
    first = sessions[0]
    agents = sorted({agent for s in sessions for agent in s.agents})
    slots = asyncio.Semaphore(max(1, concurrency))
    with ExitStack() as stack:
        pool = stack.enter_context(AgentPool.start(first.pool_config, agents, source=first.pool_source))
        if tracking is not None:  # now, not at the first request (seconds on a fresh store)
            from orch.tracking import Tracker
            from orch.tracking.runs import prepare_experiment

            prepare_experiment(tracking, Tracker(tracking).experiment_name("serve"))
        answerers = {}
        for session in sessions:
            runner = stack.enter_context(session.start(pool, router=RouterOptions(router_id=router)))
            answerers[session.graph.name] = Answerer(session, runner, tracking=tracking, slots=slots)
        yield answerers
