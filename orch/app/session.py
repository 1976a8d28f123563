"""One command's wiring: pool config + graph spec → checked graph → started agents → runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from orch.backends.pool import AgentPool
from orch.config import PoolConfig, load_pool_config, pool_fingerprint
from orch.graphs import compile_spec, load_graph_spec, required_agents
from orch.routers.setup import RouterSetup, RouterUpdate, open_router
from orch.runner import GraphRunner

__all__ = ["Session"]


class Session:
    """Load and check everything before any model starts, so a bad spec or config fails fast.

    Args:
        graph: a built-in graph name or a spec file path.
        config: a pool config file; None reads `ORCH_CONFIG`, then the embedded default pool.
        pool_config: an already-loaded pool config (takes precedence over `config`).
    """

    def __init__(
        self, graph: str | Path = "orch", config: Path | None = None, *, pool_config: PoolConfig | None = None
    ) -> None:
        pool_path: Path | None = None
        if pool_config is None:
            pool_config, pool_path = load_pool_config(config)
        self.pool_source = str(pool_path) if pool_path else "<given>"
        self.pool_hash = pool_fingerprint(pool_config, pool_path)
        self.pool_config = pool_config
        self.spec, self.spec_path = load_graph_spec(graph)
        self.compiled = compile_spec(self.spec, source=self.spec_path, pool=pool_config)
        self.router: RouterSetup | None = None
        """Set while `runner()` is open, for a graph with a route node."""

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents this graph may call: only their local servers start."""
        return required_agents(self.compiled, self.pool_config)

    @contextmanager
    def runner(
        self,
        pool: AgentPool | None = None,
        *,
        router_id: str = "default",
        scope: str = "",
        on_router_update: RouterUpdate | None = None,
    ) -> Iterator[GraphRunner]:
        """Start the needed agents (unless `pool` is given) and stop them on exit, even on Ctrl-C.

        A routed graph continues the persisted router `router_id` from its current version and
        stores each update as a new version (`scope` makes feedback ids unique, e.g. the MLflow run id).
        """
        with ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(AgentPool.start(self.pool_config, self.agents, source=self.pool_source))
            self.router = stack.enter_context(
                open_router(
                    self.compiled,
                    self.pool_config,
                    router_id=router_id,
                    scope=scope or router_id,
                    on_update=on_router_update,
                )
            )
            yield GraphRunner(self.compiled, pool, router=self.router.service if self.router else None)
