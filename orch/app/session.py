"""One wiring path for every command: pool config + graph → checked → agents started → router →
run context → runner. `orch ask`, `orch run`, `orch eval` and your own code all go through here.

    with Session("orch") as session:              # the embedded local pool, or Session(g, pool="my.yaml")
        result = session.invoke(item)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from orch.config import PoolConfig, load_pool_config, pool_fingerprint
from orch.errors import OrchError
from orch.graphs import Graph, load_graph

if TYPE_CHECKING:
    from orch.app.runner import GraphRunner, ItemContext
    from orch.backends.cache import CallCache
    from orch.backends.pool import AgentPool
    from orch.items import Item
    from orch.nodes.context import Router, RunContext
    from orch.records import ItemResult, Observation
    from orch.routers.setup import RouterSetup, RouterUpdate

__all__ = ["RouterOptions", "Session", "check_keys"]


def check_keys(pool: PoolConfig, agent_ids: Sequence[str]) -> None:
    """Every remote agent among `agent_ids` has its API key variable set — no network needed, so a
    missing key fails here, before any MLflow run or stored record is opened (then exit 2)."""
    from orch.backends.endpoints import agent_key

    for agent_id in agent_ids:
        agent = pool.agent(agent_id)
        if agent.base_url is not None:
            agent_key(agent)


@dataclass(frozen=True)
class RouterOptions:
    """How a routed graph's router is opened (graphs without a `route` node ignore this)."""

    router_id: str = "default"
    """The persisted router to continue and update."""
    scope: str | Callable[[], str] = ""
    """Makes feedback ids unique (`<scope>/<item id>`), e.g. the MLflow run id (a callable is asked
    at the first feedback, so the run may still be opening now); default: the router id."""
    fresh: bool = False
    """Start from cold state even if the router has versions (evaluations do)."""
    order: Sequence[str] = ()
    """The item order that defines "before" (an evaluation's sample order)."""
    replayed: Sequence[tuple[str, list[Observation]]] = ()
    """Feedback of items already finished (resuming), folded before any item is routed."""
    on_update: RouterUpdate | None = None
    store_url: str | None = None


class Session:
    """Load and check everything before any model starts, so a bad spec or config fails fast.

    Args:
        graph: a built-in graph name, a spec file path, or a `Graph` built in Python.
        pool: a pool config file or a `PoolConfig`; None reads `ORCH_CONFIG`, then the embedded pool.
        pool_source, pool_hash: where a given `PoolConfig` came from and its fingerprint, as recorded
            in MLflow (an evaluation passes its pool file's; default `<given>` and the config's JSON hash).
    """

    def __init__(
        self,
        graph: str | Path | Graph = "orch",
        pool: PoolConfig | Path | str | None = None,
        *,
        pool_source: str | None = None,
        pool_hash: str | None = None,
    ) -> None:
        if isinstance(pool, PoolConfig):
            self.pool_config, self.pool_source = pool, pool_source or "<given>"
            self.pool_hash = pool_hash or pool_fingerprint(pool)
        else:
            self.pool_config, path = load_pool_config(Path(pool) if pool is not None else None)
            self.pool_source, self.pool_hash = str(path), pool_fingerprint(self.pool_config, path)
        self.graph = load_graph(graph, pool=self.pool_config)
        self.cast = self.graph.cast(self.pool_config)
        self.compiled = self.graph.compile(self.cast)
        """The LangGraph graph, with node metadata naming the agents."""
        self.router: RouterSetup | None = None
        """Set while the session is started, for a graph with a route node."""
        self._stack: ExitStack | None = None
        self._runner: GraphRunner | None = None

    def check_keys(self) -> None:
        """See `check_keys`: this graph's agents."""
        check_keys(self.pool_config, self.agents)

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents this graph may call: only their local servers start."""
        return self.graph.required_agents(self.pool_config)

    @contextmanager
    def start(
        self,
        agents: AgentPool | None = None,
        *,
        router: RouterOptions | None = None,
        cache: CallCache | None = None,
        item_context: ItemContext | None = None,
    ) -> Iterator[GraphRunner]:
        """Start the needed agents (unless `agents` is given) and the router; stop them on exit, even on Ctrl-C."""
        from orch.app.runner import GraphRunner
        from orch.backends.pool import AgentPool
        from orch.routers.setup import open_router

        options = router or RouterOptions()
        with ExitStack() as stack:
            if agents is None:
                agents = stack.enter_context(
                    AgentPool.start(self.pool_config, self.agents, source=self.pool_source, cache=cache)
                )
            self.router = stack.enter_context(
                open_router(
                    self.graph.route,
                    self.pool_config,
                    router_id=options.router_id,
                    scope=options.scope or options.router_id,
                    store_url=options.store_url,
                    fresh=options.fresh,
                    order=options.order,
                    replayed=options.replayed,
                    on_update=options.on_update,
                )
            )
            context = self.run_context(agents, self.router.service if self.router else None)
            try:
                yield GraphRunner(self.graph.name, self.compiled, context, item_context=item_context)
            finally:
                self.router = None

    def run_context(self, agents: AgentPool, router: Router | None = None) -> RunContext:
        """The run context of this graph on started agents: its default panel and roles, and the
        router of a routed graph (`start` opens one; a host such as LangGraph's server brings its own)."""
        from orch.nodes.context import RunContext

        return RunContext(pool=agents, panel=self.cast.panel, roles=self.cast.roles, router=router)

    # -- the LangGraph-style calls, inside `with session:` ----------------------------------
    def __enter__(self) -> Session:
        self._stack = ExitStack()
        self._runner = self._stack.enter_context(self.start())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack, self._runner = self._stack, None, None
        if stack is not None:
            stack.close()

    @property
    def runner(self) -> GraphRunner:
        if self._runner is None:
            raise OrchError("the session is not started: use `with Session(...) as session:`")
        return self._runner

    def context(self) -> RunContext:
        """The run context to invoke `session.compiled` yourself (`compiled.invoke(state, context=...)`)."""
        return self.runner.context

    def invoke(self, item: Item) -> ItemResult:
        return self.runner.invoke(item)

    async def ainvoke(self, item: Item) -> ItemResult:
        return await self.runner.ainvoke(item)

    def batch(self, items: Sequence[Item], *, concurrency: int = 1) -> list[ItemResult]:
        return self.runner.batch(items, concurrency=concurrency)

    async def abatch(self, items: Sequence[Item], *, concurrency: int = 1) -> list[ItemResult]:
        return await self.runner.abatch(items, concurrency=concurrency)
