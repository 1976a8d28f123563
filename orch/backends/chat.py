"""One agent's chat calls: budgeted, seeded, timed, priced.

Every LLM call in orch goes through `AgentClient.complete`, which wraps a LangChain chat model
(`ChatOpenAI` for real endpoints, a scripted fake in unit tests), so tracing, token counts,
latency and cost are recorded the same way for every node.

A failed call is a `BackendError`, never an answer nor a crash: HTTP and transport failures, and
HTTP-200 replies with no readable message (judged from the reply). Its text never holds the API key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from urllib.parse import urlsplit

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI

from orch.backends.budget import RequestBudget
from orch.backends.cache import CallCache, ReplayMiss, call_key
from orch.config import ENV_NAME, AgentConfig
from orch.errors import BackendError
from orch.records import Completion

__all__ = ["AgentClient", "build_chat_model", "is_loopback", "malformed_reason", "redact"]

_REPLIES: ContextVar[list[httpx.Response] | None] = ContextVar("orch_chat_replies", default=None)
"""The HTTP replies of the call in progress in this task (see `_remember_reply`)."""

_UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError)
"""What the SDK and langchain-openai 1.7 raise on HTTP-200 replies they cannot read (measured over
loopback): TypeError for `choices: null`, IndexError for `[]`, ValueError for an HTML page, JSON that
is not an object or an `error` body, JSONDecodeError for bad JSON, AttributeError for a choice without
`message`. Bugs raise these too, so one becomes a BackendError only when the reply was malformed."""


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


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null")


def malformed_reason(response: httpx.Response) -> str | None:
    """Why an HTTP-2xx chat-completions reply cannot be read, or None when its shape is fine
    (non-2xx statuses are the SDK's to report)."""
    if not response.is_success:
        return None
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    try:
        body = json.loads(response.content)
    except (ValueError, httpx.ResponseNotRead):
        return f"not JSON ({content_type})"
    if not isinstance(body, dict):
        return f"not a JSON object ({_json_type(body)})"
    if error := body.get("error"):
        message = error.get("message", error) if isinstance(error, dict) else error
        return f"the endpoint reported an error: {str(message)[:200]}"
    choices = body.get("choices")
    if not choices:
        return "no choices"
    if not isinstance(choices, list):
        return f"choices is not a list ({_json_type(choices)})"
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        return "a choice has no message"
    if body.get("usage") is not None and not isinstance(body["usage"], dict):
        return "usage is not an object"
    return None


async def _remember_reply(response: httpx.Response) -> None:
    """httpx response hook: keep the replies of the call in progress, so a reply the SDK cannot read
    is judged from what the endpoint actually sent (contextvars keep concurrent calls apart)."""
    replies = _REPLIES.get()
    if replies is not None:
        replies.append(response)


def _api_key(agent: AgentConfig) -> str:
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
    loopback: bool = False,
) -> ChatOpenAI:
    """A `ChatOpenAI` for any OpenAI-compatible endpoint; the API key is read from the environment.

    It gets an HTTP client of its own: langchain-openai otherwise shares one cached async client
    per endpoint, bound to the first event loop that used it; that client also records each reply
    so `AgentClient` can tell a malformed one from a bug. `loopback` (or a loopback `base_url`)
    ignores proxy settings.
    """
    api_key = _api_key(agent)
    trust_env = not (loopback or is_loopback(base_url))
    return ChatOpenAI(
        http_async_client=httpx.AsyncClient(
            timeout=agent.timeout_s, trust_env=trust_env, event_hooks={"response": [_remember_reply]}
        ),
        http_client=httpx.Client(timeout=agent.timeout_s, trust_env=trust_env),
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
                refused connections) or sent a reply with no readable message (no choices, not
                JSON). Unreadable text is not an error here: the caller parses it.
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
            replies: list[httpx.Response] = []
            token = _REPLIES.set(replies)
            try:
                message = await model.ainvoke(list(messages), **_request_kwargs(model, kwargs))
            except (openai.OpenAIError, httpx.HTTPError, TimeoutError) as exc:
                raise self._failure(f"{type(exc).__name__}: {exc}") from exc
            except _UNREADABLE as exc:
                reason = malformed_reason(replies[-1]) if replies else None
                if reason is None:
                    raise  # the reply was fine (or never seen): a bug, keep its traceback
                raise self._failure(f"malformed reply: {reason}") from exc
            finally:
                _REPLIES.reset(token)
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

    def _failure(self, reason: str) -> BackendError:
        """A BackendError naming the agent, with its API key redacted (the text is stored in results)."""
        key_env = self.agent.api_key_env
        key = os.environ.get(key_env, "") if key_env and ENV_NAME.match(key_env) else ""
        return BackendError(redact(f"agent {self.agent.id!r}: {reason}", key))
