"""How an agent's endpoint is reached, from its config: its API key (read from the environment,
never stored), whether proxies apply, and the two ways to call it — the `ChatOpenAI` a user can
take as a LangChain model, and the leaner `HttpChat` orch's own calls go through."""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orch.backends.http_chat import NO_KEY, HttpChat
from orch.config import ENV_NAME, AgentConfig
from orch.errors import BackendError

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["agent_key", "build_chat_model", "build_endpoint", "is_loopback", "redact"]


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every occurrence of each non-empty secret replaced by `***` (endpoints echo keys in 401s)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine; such calls ignore proxy settings (a proxy cannot reach them)."""
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def agent_key(agent: AgentConfig) -> str:
    """The agent's API key from the environment ("" when it needs none)."""
    if not agent.api_key_env:
        return ""
    if not ENV_NAME.match(agent.api_key_env):
        raise BackendError(
            f"agent {agent.id!r}: api_key_env must name an environment variable "
            "(it looks like a key itself; the value is not shown)"
        )
    api_key = os.environ.get(agent.api_key_env, "")
    if not api_key:
        raise BackendError(f"agent {agent.id!r}: environment variable {agent.api_key_env} is not set")
    return api_key


def build_chat_model(
    agent: AgentConfig,
    base_url: str,
    *,
    seed: int,
    temperature: float,
    extra_body: dict[str, object] | None = None,
) -> ChatOpenAI:
    """A `ChatOpenAI` for any OpenAI-compatible endpoint (what `AgentClient.chat_model` gives, to use
    the agent as a LangChain model); the API key is read from the environment."""
    from langchain_openai import ChatOpenAI

    api_key = agent_key(agent)
    return ChatOpenAI(
        model=agent.model,
        base_url=base_url,
        api_key=api_key or NO_KEY,
        temperature=temperature,
        seed=seed,
        max_tokens=agent.max_tokens,
        timeout=agent.timeout_s,
        max_retries=agent.max_retries,
        extra_body={**(extra_body or {}), **agent.extra_body} or None,
    )


def build_endpoint(
    agent: AgentConfig, base_url: str, *, extra_body: dict[str, object] | None = None, connections: int = 100
) -> HttpChat:
    """The HTTP call path for the agent, with the settings `build_chat_model` gives ChatOpenAI."""
    return HttpChat(
        base_url,
        agent.model,
        api_key=agent_key(agent),
        extra_body={**(extra_body or {}), **agent.extra_body},
        timeout_s=agent.timeout_s,
        max_retries=agent.max_retries,
        trust_env=not is_loopback(base_url),
        connections=connections,
    )
