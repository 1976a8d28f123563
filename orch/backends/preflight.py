"""Preflight: is every remote endpoint a run needs reachable, does it take the key, does it serve the model?

Without it, a wrong URL, a revoked key or a misspelt model name shows up as one failed call per item,
and an evaluation of hundreds of items ends as a table of errors. One GET of `/models` per distinct
endpoint and key answers all three before the first item starts. Local agents are skipped: orch
checks the llama.cpp servers it starts itself (`startup_checks`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import httpx

from orch.backends.endpoints import is_loopback, redact
from orch.config import ENV_NAME, AgentConfig, PoolConfig
from orch.errors import BackendError, ConfigError, did_you_mean

__all__ = ["check_endpoints"]

_SHOWN_MODELS = 10
"""How many served model ids an error lists (OpenAI serves over a hundred)."""

_Endpoint = tuple[str, str]
"""(base URL without a trailing slash, API key or "")."""


def check_endpoints(config: PoolConfig, agent_ids: Iterable[str], *, timeout_s: float = 10.0) -> None:
    """GET `{base_url}/models` once per distinct (base URL, key) among the remote agents in `agent_ids`,
    all endpoints at once, so a run fails before its first item rather than on every call.

    A model list that is non-empty and lacks an agent's `model` fails: a single-model server whose
    name differs from the agent's `model` must list that name (llama.cpp: `--alias`). A 404 (a proxy
    without the route) or a body that is not a model list passes: the endpoint answered, the model
    cannot be checked.

    Raises:
        ConfigError: an agent's `api_key_env` is unset or empty in the environment.
        BackendError: one line naming the agent, the URL and the cause (unreachable, key refused,
            HTTP status, model not served); the key is never in it.
    """
    groups: dict[_Endpoint, list[AgentConfig]] = {}
    for agent_id in dict.fromkeys(agent_ids):
        agent = config.agent(agent_id)
        if agent.base_url is not None and agent.local is None:
            endpoint = (agent.base_url.rstrip("/"), _api_key(config, agent))
            groups.setdefault(endpoint, []).append(agent)
    if not groups:
        return
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="orch-preflight") as pool:
        outcomes = list(pool.map(lambda item: _check(*item, timeout_s=timeout_s), groups.items()))
    order = {agent.id: i for i, agent in enumerate(config.agents)}
    failures = sorted((f for f in outcomes if f is not None), key=lambda f: order[f[0]])
    if failures:
        raise BackendError(failures[0][1])


def _api_key(config: PoolConfig, agent: AgentConfig) -> str:
    """The agent's key from the environment ("" when it needs none); unset is the user's to fix."""
    name = agent.api_key_env
    if not name:
        return ""
    where = f"agents[{config.agent_ids.index(agent.id)}].api_key_env"
    if not ENV_NAME.match(name):
        raise ConfigError(
            "pool",
            where,
            f"agent {agent.id!r}: api_key_env must name an environment variable "
            "(it looks like a key itself; the value is not shown)",
        )
    key = os.environ.get(name, "")
    if not key:
        raise ConfigError("pool", where, f"agent {agent.id!r}: environment variable {name} is not set")
    return key


def _check(endpoint: _Endpoint, agents: list[AgentConfig], *, timeout_s: float) -> tuple[str, str] | None:
    """(agent id, one-line reason) for the first of `agents` this endpoint cannot serve, or None."""
    base_url, key = endpoint
    url = f"{base_url}/models"
    who = f"agent {agents[0].id!r}" if len(agents) == 1 else "agents " + ", ".join(repr(a.id) for a in agents)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with httpx.Client(timeout=timeout_s, trust_env=not is_loopback(base_url)) as client:
            response = client.get(url, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return agents[0].id, redact(f"{who} at {url}: unreachable ({type(exc).__name__}: {exc})", key)
    status = response.status_code
    if status in (401, 403):
        cause = "the API key was refused" if key else "the endpoint wants an API key (set api_key_env)"
        return agents[0].id, redact(f"{who} at {url}: {cause} (HTTP {status})", key)
    if status == 404:
        return None
    if not response.is_success:
        return agents[0].id, redact(f"{who} at {url}: HTTP {status}", key)
    served = _served_ids(response)
    for agent in agents:
        if served and agent.model not in served:
            shown = served[:_SHOWN_MODELS] + ([f"… {len(served) - _SHOWN_MODELS} more"] * (len(served) > _SHOWN_MODELS))
            reason = f"model {agent.model!r} is not served (served: {shown}){did_you_mean(agent.model, served)}"
            return agent.id, redact(f"agent {agent.id!r} at {url}: {reason}", key)
    return None


def _served_ids(response: httpx.Response) -> list[str]:
    """Model ids of an OpenAI-style list (`{"data": [{"id": ...}]}`); [] for any other body."""
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return []
    if not isinstance(data, list):
        return []
    return [d["id"] for d in data if isinstance(d, dict) and isinstance(d.get("id"), str)]
