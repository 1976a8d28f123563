"""One command's wiring: pool config + graph spec → checked graph → started agents → runner."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orch.backends.pool import AgentPool
from orch.config import PoolConfig, load_pool_config
from orch.graphs import compile_spec, load_graph_spec, required_agents
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
        if pool_config is None:
            pool_config, pool_path = load_pool_config(config)
            self.pool_source = str(pool_path)
            self.pool_hash = hashlib.sha256(Path(pool_path).read_bytes()).hexdigest()
        else:
            self.pool_source = "<given>"
            self.pool_hash = hashlib.sha256(pool_config.model_dump_json().encode()).hexdigest()
        self.pool_config = pool_config
        self.spec, self.spec_path = load_graph_spec(graph)
        self.compiled = compile_spec(self.spec, source=self.spec_path, pool=pool_config)

    @property
    def agents(self) -> tuple[str, ...]:
        """The agents this graph may call: only their local servers start."""
        return required_agents(self.compiled, self.pool_config)

    @contextmanager
    def runner(self, pool: AgentPool | None = None) -> Iterator[GraphRunner]:
        """Start the needed agents (unless `pool` is given) and stop them on exit, even on Ctrl-C."""
        if pool is not None:
            yield GraphRunner(self.compiled, pool)
            return
        with AgentPool.start(self.pool_config, self.agents, source=self.pool_source) as started:
            yield GraphRunner(self.compiled, started)
