"""One agent's chat calls: budgeted, seeded, timed, priced, traced.

Every LLM call in orch goes through `AgentClient.complete`. An agent configured as a `ChatOpenAI`
(every real endpoint) is called over `HttpChat`, a lean aiohttp path built from that config; any
other LangChain chat model (a scripted fake in unit tests, a user's own) through its `ainvoke`.
Either way token counts, latency, cost, retries and the call's trace span are recorded the same way.

A failed call is a `BackendError`, never an answer nor a crash: HTTP and transport failures after
their retries, and HTTP-200 replies with no readable message. Its text never holds the API key.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, convert_to_openai_messages

import orch.spans as spans
from orch.backends.breaker import CircuitBreaker
from orch.backends.budget import RequestBudget
from orch.backends.cache import CallCache, ReplayMiss, call_key
from orch.backends.endpoints import is_loopback, redact
from orch.backends.http_chat import EndpointFailure, HttpChat
from orch.backends.logprobs import TOP_LOGPROBS, label_positions
from orch.config import ENV_NAME, AgentConfig
from orch.errors import BackendError
from orch.records import Completion

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["AgentClient"]

_Reply = tuple[str, tuple[int, int], str | None, int, dict[str, Any]]
"""(text, (input, output) tokens, finish reason, retries, the choice as sent: its logprobs)."""


def _call_errors() -> tuple[type[BaseException], ...]:
    """What a LangChain model raises for a failed call: the openai SDK's errors (when it is loaded:
    importing it costs ~0.5 s), httpx's, timeouts and refused connections."""
    openai = sys.modules.get("openai")
    sdk = (openai.OpenAIError,) if openai is not None else ()
    return (*sdk, httpx.HTTPError, TimeoutError, ConnectionError)


def _is_chat_openai(model: BaseChatModel) -> bool:
    """A langchain-openai chat model, told without importing langchain-openai (~1 s)."""
    return any(
        c.__name__ == "BaseChatOpenAI" and c.__module__.startswith("langchain_openai") for c in type(model).__mro__
    )


class AgentClient:
    """Calls one agent's model under its backend's request budget."""

    def __init__(
        self,
        agent: AgentConfig,
        chat_model: BaseChatModel | Callable[[], BaseChatModel],
        budget: RequestBudget,
        *,
        endpoint: Callable[[], HttpChat] | None = None,
        identity: Mapping[str, object] | None = None,
        cache: CallCache | None = None,
        seed: int = 0,
        temperature: float = 0.0,
    ) -> None:
        """`chat_model` is a model, or a factory called when first needed; calls go over `endpoint`
        (a factory called on the first call: it reads the API key) when given, over an `HttpChat`
        made from the model when it is a `ChatOpenAI`, and through the model's `ainvoke` otherwise.
        `identity` names the model behind the agent for the call cache (file hash or endpoint +
        model name, never a port); `seed` and `temperature` are the defaults each call sends."""
        self.agent = agent
        self._chat_model = chat_model
        self._built: BaseChatModel | None = chat_model if isinstance(chat_model, BaseChatModel) else None
        self._endpoint = endpoint
        self._http: HttpChat | None = None
        self.budget = budget
        self.identity = dict(identity or {"agent": agent.id, "model": agent.model})
        self.cache = cache
        self.seed = seed
        self.temperature = temperature
        self.breaker = CircuitBreaker(agent.circuit_failures, agent.circuit_cooldown_s)

    @property
    def chat_model(self) -> BaseChatModel:
        if self._built is None:
            self._built = self._chat_model()  # type: ignore[operator]
        return self._built

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
        labels: Sequence[str] | None = None,
    ) -> Completion:
        """Send `messages`; with `schema`, ask for JSON matching it (grammar-enforced by llama.cpp).

        Args:
            temperature, seed: override the pool's defaults for this call (self-consistency samples).
            labels: the item's option labels: ask for token log-probabilities (unless the agent's
                `logprobs` is off) and keep the labels' at each position that writes one.

        Raises:
            BackendError: the endpoint failed after its retries (timeouts, 429, 5xx, refused or
                dropped connections, malformed replies) or refused the call (401, 404...).
                Unreadable text is not an error here: the caller parses it.
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
        wanted = tuple(labels) if labels and self.agent.logprobs else ()
        if wanted:
            kwargs.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        with spans.span(f"call {self.agent.id}", "CHAT_MODEL", *self._span_fields(messages, kwargs)) as span:
            try:
                completion = await self._complete(messages, kwargs, wanted)
            except BackendError as exc:
                span.fail(str(exc))
                raise
            span.set_outputs({"content": completion.text})
            span.set_usage(completion.input_tokens, completion.output_tokens)
            span.set_attributes(
                {
                    "latency_ms": round(completion.latency_ms, 1),
                    "cost": completion.cost,
                    "cached": completion.cached,
                    "retries": completion.retries,
                    "finish_reason": completion.finish_reason or "",
                }
            )
        return completion

    def _span_fields(self, messages: Sequence[BaseMessage], kwargs: Mapping[str, object]) -> tuple[Any, dict]:
        if not spans.active():
            return None, {}
        inputs = {"messages": convert_to_openai_messages(list(messages)), **kwargs}
        return inputs, {"agent": self.agent.id, "model": self.agent.model}

    async def _complete(
        self, messages: Sequence[BaseMessage], kwargs: dict[str, object], labels: tuple[str, ...]
    ) -> Completion:
        key = None
        if self.cache is not None:
            key = call_key(self.identity, kwargs, messages, self.cache.prompt_version)
            hit = self.cache.get(key)
            if hit is not None:
                now = time.time()  # served now and at once: the original times would stretch the item's phases
                served = {"queued_ms": 0.0, "cached": True, "retries": 0, "started_at": now, "ended_at": now}
                return Completion.model_validate({**hit, **served})
            if self.cache.replay:
                raise ReplayMiss(
                    f"replay: agent {self.agent.id!r} has no cached reply for this call (key {key[:12]}); "
                    "run without --replay to call the model"
                )
        if (refusal := self.breaker.refusal()) is not None:
            raise self._failure(refusal)
        try:
            completion = await self._call(messages, kwargs, labels)
        except BackendError:
            self.breaker.record(ok=False)
            raise
        except BaseException:  # cancelled (an item's time budget, Ctrl-C): no outcome to record
            self.breaker.abandon()
            raise
        self.breaker.record(ok=True)
        if self.cache is not None and key is not None:
            self.cache.put(key, self.agent.id, completion.model_dump(exclude={"queued_ms", "cached"}))
        return completion

    async def _call(
        self, messages: Sequence[BaseMessage], kwargs: dict[str, object], labels: tuple[str, ...]
    ) -> Completion:
        queued = time.perf_counter()
        async with self.budget.slot():
            started, started_at = time.perf_counter(), time.time()
            http = self._http_endpoint()
            if http is not None:
                reply = await self._post(http, messages, kwargs)
            else:
                reply = await self._invoke(self.chat_model, messages, kwargs)
            ended = time.perf_counter()
        text, (input_tokens, output_tokens), finish_reason, retries, choice = reply
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=(ended - started) * 1000,
            queued_ms=(started - queued) * 1000,
            cost=self.agent.cost(input_tokens, output_tokens),
            finish_reason=finish_reason,
            started_at=started_at,
            ended_at=started_at + (ended - started),
            retries=retries,
            label_logprobs=label_positions(choice, labels) if labels else None,
        )

    def _http_endpoint(self) -> HttpChat | None:
        if self._http is None:
            if self._endpoint is not None:
                self._http = self._endpoint()
            elif _is_chat_openai(model := self.chat_model):
                chat_openai: ChatOpenAI = model  # type: ignore[assignment]
                trust_env = not is_loopback(chat_openai.openai_api_base or "")
                self._http = HttpChat.from_chat_openai(chat_openai, trust_env=trust_env, connections=self.budget.limit)
        return self._http

    async def _post(self, http: HttpChat, messages: Sequence[BaseMessage], kwargs: dict[str, object]) -> _Reply:
        """One call over HTTP."""
        try:
            reply = await http.post(http.body(convert_to_openai_messages(list(messages)), kwargs))
        except EndpointFailure as exc:
            raise self._failure(exc.reason) from None
        choice = reply.body["choices"][0]
        usage = reply.body.get("usage") or {}
        tokens = (int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        content = choice["message"].get("content")
        return content if isinstance(content, str) else "", tokens, choice.get("finish_reason"), reply.retries, choice

    async def _invoke(self, model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: dict[str, object]) -> _Reply:
        """One call through a LangChain chat model's `ainvoke` (its own retries, if any)."""
        try:
            message = await model.ainvoke(list(messages), **kwargs)
        except _call_errors() as exc:
            raise self._failure(f"{type(exc).__name__}: {exc}") from exc
        usage = getattr(message, "usage_metadata", None) or {}
        tokens = (int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
        content = message.content if isinstance(message.content, str) else str(message.content)
        metadata = message.response_metadata or {}
        return content, tokens, metadata.get("finish_reason"), 0, {"logprobs": metadata.get("logprobs")}

    def _failure(self, reason: str) -> BackendError:
        """A BackendError naming the agent, with its API key redacted (the text is stored in results)."""
        key_env = self.agent.api_key_env
        key = os.environ.get(key_env, "") if key_env and ENV_NAME.match(key_env) else ""
        return BackendError(redact(f"agent {self.agent.id!r}: {reason}", key))
