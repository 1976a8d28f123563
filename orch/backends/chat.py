"""One agent's chat calls: budgeted, seeded, timed, priced.

Every LLM call in orch goes through `AgentClient.complete`, which wraps a LangChain chat model
(`ChatOpenAI` for real endpoints, a scripted fake in unit tests), so tracing, token counts,
latency and cost are recorded the same way for every node.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from orch.backends.budget import RequestBudget
from orch.backends.cache import CallCache, ReplayMiss, call_key
from orch.config import AgentConfig
from orch.errors import BackendError
from orch.records import Completion

__all__ = ["AgentClient", "build_chat_model"]


def build_chat_model(
    agent: AgentConfig,
    base_url: str,
    *,
    seed: int,
    temperature: float,
    extra_body: dict[str, object] | None = None,
    loopback: bool = False,
) -> ChatOpenAI:
    """A `ChatOpenAI` for any OpenAI-compatible endpoint; the API key is read from the environment.

    It gets an HTTP client of its own: langchain-openai otherwise shares one cached async client
    per endpoint, bound to the first event loop that used it. `loopback` ignores proxy settings.
    """
    api_key = os.environ.get(agent.api_key_env, "") if agent.api_key_env else ""
    if agent.api_key_env and not api_key:
        raise BackendError(f"agent {agent.id!r}: environment variable {agent.api_key_env} is not set")
    return ChatOpenAI(
        http_async_client=httpx.AsyncClient(timeout=agent.timeout_s, trust_env=not loopback),
        http_client=httpx.Client(timeout=agent.timeout_s, trust_env=not loopback),
        model=agent.model,
        base_url=base_url,
        api_key=api_key or "not-needed",
        temperature=temperature,
        seed=seed,
        max_tokens=agent.max_tokens,
        timeout=agent.timeout_s,
        max_retries=agent.max_retries,
        extra_body={**(extra_body or {}), **agent.extra_body} or None,
    )


def _request_kwargs(model: BaseChatModel, kwargs: dict[str, object]) -> dict[str, object]:
    """Send `response_format` as a plain body field to OpenAI-compatible endpoints.

    Given as a keyword, langchain-openai calls the SDK's `parse()`, which raises on a reply cut by
    `max_tokens` (`LengthFinishReasonError`) and loses the text; orch parses replies itself and
    keeps what a cut reply says. The server sees the same JSON body either way.
    """
    if not isinstance(model, ChatOpenAI) or "response_format" not in kwargs:
        return kwargs
    plain = dict(kwargs)
    plain["extra_body"] = {**(model.extra_body or {}), "response_format": plain.pop("response_format")}
    return plain


class AgentClient:
    """Calls one agent's model under its backend's request budget."""

    def __init__(
        self,
        agent: AgentConfig,
        chat_model: BaseChatModel | Callable[[], BaseChatModel],
        budget: RequestBudget,
        *,
        identity: Mapping[str, object] | None = None,
        cache: CallCache | None = None,
        seed: int = 0,
        temperature: float = 0.0,
    ) -> None:
        """`chat_model` is a model, or a factory called once per event loop (async HTTP clients
        belong to the loop that opened them, and a pool may outlive several `asyncio.run`).
        `identity` names the model behind the agent for the call cache (file hash or endpoint +
        model name, never a port); `seed` and `temperature` are the defaults each call sends."""
        self.agent = agent
        self._chat_model = chat_model
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BaseChatModel] = (
            weakref.WeakKeyDictionary()
        )
        self.budget = budget
        self.identity = dict(identity or {"agent": agent.id, "model": agent.model})
        self.cache = cache
        self.seed = seed
        self.temperature = temperature

    @property
    def chat_model(self) -> BaseChatModel:
        if isinstance(self._chat_model, BaseChatModel):
            return self._chat_model
        loop = asyncio.get_running_loop()
        model = self._per_loop.get(loop)
        if model is None:
            model = self._per_loop[loop] = self._chat_model()
        return model

    @property
    def id(self) -> str:
        return self.agent.id

    async def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        schema: dict | None = None,
        schema_name: str = "answer",
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Send `messages`; with `schema`, ask for JSON matching it (grammar-enforced by llama.cpp).

        Args:
            temperature, seed: override the pool's defaults for this call (self-consistency samples).

        Raises:
            BackendError: the endpoint failed after the model's own retries (timeouts, 5xx,
                refused connections). Unreadable output is not an error here: the caller parses it.
            ReplayMiss: replaying from the cache and this call is not in it.
        """
        kwargs: dict[str, object] = {
            "max_tokens": min(max_tokens or self.agent.max_tokens, self.agent.max_tokens),
            "temperature": self.temperature if temperature is None else temperature,
            "seed": self.seed if seed is None else seed,
        }
        if schema is not None and self.agent.structured_output == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        key = None
        if self.cache is not None:
            key = call_key(self.identity, kwargs, messages, self.cache.prompt_version)
            hit = self.cache.get(key)
            if hit is not None:
                return Completion.model_validate({**hit, "queued_ms": 0.0, "cached": True})
            if self.cache.replay:
                raise ReplayMiss(
                    f"replay: agent {self.agent.id!r} has no cached reply for this call (key {key[:12]}); "
                    "run without --replay to call the model"
                )
        completion = await self._call(messages, kwargs)
        if self.cache is not None and key is not None:
            self.cache.put(key, self.agent.id, completion.model_dump(exclude={"queued_ms", "cached"}))
        return completion

    async def _call(self, messages: Sequence[BaseMessage], kwargs: dict[str, object]) -> Completion:
        queued = time.perf_counter()
        async with self.budget.slot():
            started = time.perf_counter()
            started_at = time.time()
            model = self.chat_model
            try:
                message = await model.ainvoke(list(messages), **_request_kwargs(model, kwargs))
            except (openai.OpenAIError, httpx.HTTPError, TimeoutError) as exc:
                raise BackendError(f"agent {self.agent.id!r}: {type(exc).__name__}: {exc}") from exc
            ended = time.perf_counter()
        usage = getattr(message, "usage_metadata", None) or {}
        input_tokens = int(usage.get("input_tokens", 0))
        output_tokens = int(usage.get("output_tokens", 0))
        content = message.content if isinstance(message.content, str) else str(message.content)
        return Completion(
            text=content,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=(ended - started) * 1000,
            queued_ms=(started - queued) * 1000,
            cost=self.agent.cost(input_tokens, output_tokens),
            finish_reason=(message.response_metadata or {}).get("finish_reason"),
            started_at=started_at,
            ended_at=started_at + (ended - started),
        )
