"""The agents of one run, ready to call: local servers started, clients built, budgets shared."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from orch.backends.budget import RequestBudget
from orch.config import AgentConfig, PoolConfig
from orch.errors import BackendError, ConfigError, did_you_mean

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from orch.backends.cache import CallCache
    from orch.backends.chat import AgentClient
    from orch.backends.llamacpp import LocalServers

__all__ = ["AgentPool"]

LOCAL_BUDGET = "local"


def _offline() -> BaseChatModel:
    raise BackendError("replaying from the call cache: no model is running")


class AgentPool:
    """Agent clients by id. Use `AgentPool.start(...)` as a context manager to run real models."""

    def __init__(
        self,
        config: PoolConfig,
        clients: Mapping[str, AgentClient],
        *,
        servers: object = None,
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self._clients = dict(clients)
        self._servers = servers
        self.endpoints: dict[str, str] = dict(endpoints or {})
        """Agent id → base URL actually used (local servers get a fresh loopback port)."""

    @classmethod
    def start(
        cls,
        config: PoolConfig,
        agent_ids: Iterable[str],
        *,
        log_dir: Path | None = None,
        source: str = "pool",
        cache: CallCache | None = None,
    ) -> AgentPool:
        """Start one llama.cpp server per distinct local model among `agent_ids` and build clients.

        With a replaying `cache`, no server starts: every call must come from the cache. Otherwise
        every remote endpoint is checked first (reachable, key accepted, model served), so a wrong
        URL or key is one line before the first item, not a failure on every call.

        Raises:
            ConfigError: an agent id is unknown, a local model is not installed, or a key is unset.
            BackendError: a server failed to start (its log file is named), or an endpoint failed its check.
        """
        from orch.backends.preflight import check_endpoints

        offline = cache is not None and cache.replay
        agents = [cls._known(config, agent_id) for agent_id in sorted(set(agent_ids))]
        if not offline:
            check_endpoints(config, [a.id for a in agents])
        local = _resolve_local(config, agents, source)
        servers = _start_servers(config, local, log_dir, offline=offline)
        try:
            clients, endpoints = _build_clients(config, agents, local, servers, cache, offline=offline)
        except BaseException:
            servers.stop_all()
            raise
        return cls(config, clients, servers=servers, endpoints=endpoints)

    @classmethod
    def from_chat_models(
        cls,
        config: PoolConfig,
        models: Mapping[str, BaseChatModel],
        *,
        concurrency: int = 1,
        cache: CallCache | None = None,
    ) -> AgentPool:
        """A pool over given chat models (scripted fakes in unit tests, any LangChain model in notebooks)."""
        from orch.backends.chat import AgentClient

        budget = RequestBudget("given", concurrency)
        clients = {
            agent_id: AgentClient(
                cls._known(config, agent_id),
                model,
                budget,
                cache=cache,
                seed=config.seed,
                temperature=config.temperature,
            )
            for agent_id, model in models.items()
        }
        return cls(config, clients)

    @staticmethod
    def _known(config: PoolConfig, agent_id: str):
        if agent_id not in config.agent_ids:
            raise ConfigError(
                "pool",
                "agents",
                f"unknown agent {agent_id!r}.{did_you_mean(agent_id, config.agent_ids)} "
                f"Agents: {list(config.agent_ids)}",
            )
        return config.agent(agent_id)

    def client(self, agent_id: str) -> AgentClient:
        try:
            return self._clients[agent_id]
        except KeyError:
            raise ConfigError(
                "pool",
                "agents",
                f"agent {agent_id!r} was not started for this run; started: "
                f"{sorted(self._clients)}{did_you_mean(agent_id, self._clients)}",
            ) from None

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._clients))

    def close(self) -> None:
        if self._servers is not None:
            self._servers.stop_all()  # type: ignore[attr-defined]
            self._servers = None

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_LocalModel = tuple[Path, str, str | None, str]
"""(gguf, alias, chat template, sha) of one locally served agent; sha identifies the weights in the cache."""


def _resolve_local(config: PoolConfig, agents: Sequence[AgentConfig], source: str) -> dict[str, _LocalModel]:
    """Agent id → its local model, for every agent with `local` set (catalog name or `.gguf` path)."""
    from orch.backends.catalog import resolve_gguf

    local: dict[str, _LocalModel] = {}  # agent id → (gguf, alias, template, sha)
    for agent in agents:
        if agent.local is not None:
            where = f"agents[{config.agent_ids.index(agent.id)}].local"
            path, entry = resolve_gguf(agent.local, source=source, where=where)
            stat = path.stat()
            sha = entry.sha256 if entry else f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
            local[agent.id] = (
                path,
                entry.name if entry else path.stem,
                entry.chat_template if entry else None,
                sha,
            )
    return local


def _start_servers(
    config: PoolConfig, local: Mapping[str, _LocalModel], log_dir: Path | None, *, offline: bool
) -> LocalServers:
    """One started server per distinct GGUF (agents sharing a file share its server); none when offline."""
    from orch.backends.llamacpp import LocalServer, LocalServers
    from orch.settings import get_settings

    servers = LocalServers()
    if not offline:
        by_file = {path: (alias, template) for path, alias, template, _ in local.values()}
        for path, (alias, template) in by_file.items():
            servers.add(
                LocalServer(
                    path,
                    alias,
                    threads=config.local.threads,
                    ctx=config.local.ctx,
                    chat_template=template,
                    log_dir=log_dir or get_settings().logs_dir,
                    startup_timeout_s=config.local.startup_timeout_s,
                )
            )
        servers.start_all()
    return servers


def _build_clients(
    config: PoolConfig,
    agents: Sequence[AgentConfig],
    local: Mapping[str, _LocalModel],
    servers: LocalServers,
    cache: CallCache | None,
    *,
    offline: bool,
) -> tuple[dict[str, AgentClient], dict[str, str]]:
    """A client and the base URL used for every agent; local agents share one request budget, remote
    ones one per base URL."""
    from orch.backends.chat import AgentClient
    from orch.backends.endpoints import build_chat_model, build_endpoint

    budgets = {LOCAL_BUDGET: RequestBudget(LOCAL_BUDGET, config.local.concurrency)}
    clients: dict[str, AgentClient] = {}
    endpoints: dict[str, str] = {}
    for agent in agents:
        if agent.id in local:
            _, alias, template, sha = local[agent.id]
            base_url = "" if offline else servers[alias].base_url
            budget = budgets[LOCAL_BUDGET]
            extra: dict[str, object] = {"cache_prompt": False} if config.local.bit_identical else {}
            identity = {"gguf_sha256": sha, "chat_template": template}
        else:
            base_url = agent.base_url or ""
            budget = budgets.setdefault(base_url, RequestBudget(base_url, config.remote_concurrency))
            extra = {}
            identity = {"base_url": base_url, "model": agent.model}
        identity["extra_body"] = {**extra, **agent.extra_body}
        factory = (
            _offline
            if offline
            else partial(
                build_chat_model,
                agent,
                base_url,
                seed=config.seed,
                temperature=config.temperature,
                extra_body=extra,
            )
        )
        endpoint = (
            None if offline else partial(build_endpoint, agent, base_url, extra_body=extra, connections=budget.limit)
        )
        clients[agent.id] = AgentClient(
            agent,
            factory,
            budget,
            endpoint=endpoint,
            identity=identity,
            cache=cache,
            seed=config.seed,
            temperature=config.temperature,
        )
        endpoints[agent.id] = base_url or "(replay)"
    return clients, endpoints
