"""The graphs `langgraph.json` registers: every shipped graph as a factory for LangGraph's server.

    uv run langgraph dev --no-browser        # serves them all on http://127.0.0.1:2024

The server calls a graph's factory for every run (and to read schemas, drawings and state). The
pool is the one in `ORCH_CONFIG` (default: the embedded local pool); its agents start once per
server process, at the first run, and stop when the process ends. A routed graph keeps its router
in the server's store (`runtime.store`): one router per graph, or the one a run names in its
context (`{"router": "team-a"}`). Serve a spec of your own with a line in `langgraph.json` naming
a file of yours that holds `graph = served("path/to/my-graph.yaml")`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from orch.app.session import Session
from orch.config import PoolConfig
from orch.errors import OrchError
from orch.routers.hosted import HostedRouter
from orch.serve.served_graph import served_graph

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.store.base import BaseStore
    from langgraph_sdk.runtime import ServerRuntime

    from orch.backends.pool import AgentPool

__all__ = ["GraphFactory", "served"]

GraphFactory = Callable[["ServerRuntime"], Awaitable["CompiledStateGraph"]]


class _ServerAgents:
    """The agents of this server process: one pool for every graph it serves, started once (in a
    worker thread, since llama.cpp servers take seconds) and left to stop with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: AgentPool | None = None

    async def get(self, config: PoolConfig, source: str) -> AgentPool:
        if self._pool is None:
            return await asyncio.to_thread(self._start, config, source)
        return self._pool

    def _start(self, config: PoolConfig, source: str) -> AgentPool:
        from orch.backends.pool import AgentPool

        with self._lock:
            if self._pool is None:
                self._pool = AgentPool.start(config, config.agent_ids, source=source)
            return self._pool


_AGENTS = _ServerAgents()
"""Process-wide on purpose: the server imports this module once and runs every graph in-process."""


@contextmanager
def _shown_to_the_caller() -> Iterator[None]:
    """The server shows the caller a `ValueError`'s message but only "internal error" for other
    exceptions: a mistake in the spec or the pool, or an endpoint that fails its check, is one line."""
    try:
        yield
    except OrchError as error:
        raise ValueError(f"{type(error).__name__}: {error}") from error


def _router(session: Session, store: BaseStore, context: dict, thread_id: str) -> HostedRouter | None:
    """A routed graph's router in the server's store: the graph's own, or the one the run names. A
    thread answers one item, so its id makes the item's feedback count once."""
    route = session.graph.route
    if route is None:
        return None
    return HostedRouter(
        route.config.policy,
        route.config.agents or session.pool_config.agent_ids,
        store,
        router_id=str(context.get("router") or session.graph.name),
        feedback_id=thread_id,
    )


def served(graph: str | Path) -> GraphFactory:
    """A LangGraph server factory for a graph: a built-in name or a spec file path.

    The spec and the pool are read at the first call, so a mistake in either is a run's error (one
    line naming the file and the field), not a server that does not start.
    """

    @cache
    def session() -> Session:
        return Session(graph)

    @cache
    def readable() -> CompiledStateGraph:
        return served_graph(session())

    # No return annotation: the server resolves this signature's hints to spot `ServerRuntime`, and
    # an annotation it cannot resolve (a TYPE_CHECKING import) makes it pass the config instead.
    async def factory(config: RunnableConfig, runtime: ServerRuntime):
        with _shown_to_the_caller():
            run = runtime.execution_runtime
            if run is None:  # schemas, drawings, state: the same topology, no agents
                return await asyncio.to_thread(readable)  # file reads stay off the server's event loop
            own = await asyncio.to_thread(session)
            agents = await _AGENTS.get(own.pool_config, own.pool_source)
            context = run.context if isinstance(run.context, dict) else {}
            thread = str(config.get("configurable", {}).get("thread_id", ""))
            return served_graph(own, own.run_context(agents, _router(own, runtime.store, context, thread)))

    factory.__name__ = f"serve_{Path(str(graph)).stem.replace('-', '_')}"
    return factory


orch = served("orch")
orch_merge = served("orch-merge")
orch_ema = served("orch-ema")
orch_ema_weighted = served("orch-ema-weighted")
orch_paper = served("orch-paper")
orch_paper_ema = served("orch-paper-ema")
single = served("single")
vote = served("vote")
