"""The call path to OpenAI-compatible endpoints: one JSON POST per attempt over a pooled aiohttp
session, configured like `ChatOpenAI` (model, base URL, key, timeout, retries, extra body; from an
agent's config, or from a `ChatOpenAI` given to the pool) while each call skips what orch does
not use — and the ~1 s import of langchain-openai and the openai SDK before the first call.

Measured at 64 items in flight: `ChatOpenAI.ainvoke` spends most of its time in httpx's pool
bookkeeping, the SDK's request building and LangChain's callbacks; this path does one
`orjson.dumps`, one POST and one `orjson.loads` per attempt. Retries follow the SDK's rules
(429, 408, 409, 5xx, timeouts, dropped connections; exponential backoff from 0.5 s to 8 s with
jitter; a `Retry-After` of up to 60 s is honoured), and a malformed HTTP-200 reply (no choices,
HTML, not JSON) is retried too: a gateway's error page is usually transient.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from orch.backends.replies import error_message, read_completion

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

__all__ = ["EndpointFailure", "EndpointReply", "HttpChat", "backoff_s"]

NO_KEY = "not-needed"
"""The placeholder `build_chat_model` gives ChatOpenAI for endpoints without a key: never sent."""
_RETRYABLE_STATUS = {408, 409, 429} | set(range(500, 600))
_MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class EndpointReply:
    body: dict[str, Any]
    retries: int


class EndpointFailure(Exception):
    """The call failed after its retries; `reason` is one line (not yet redacted)."""

    def __init__(self, reason: str, retries: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retries = retries


def backoff_s(retry: int, retry_after: str | None = None, *, rng: random.Random | None = None) -> float:
    """Seconds before retry number `retry` (0-based): the server's `Retry-After` (seconds or an HTTP
    date) when it gives one of at most 60 s, else 0.5·2^retry capped at 8 s, minus up to 25% jitter."""
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            try:
                from datetime import UTC, datetime

                wait = (parsedate_to_datetime(retry_after) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                wait = -1.0
        if 0 <= wait <= _MAX_RETRY_AFTER_S:
            return wait
    return min(0.5 * 2**retry, 8.0) * (1 - 0.25 * (rng or random).random())


class HttpChat:
    """Sends chat-completions requests to one endpoint for one model; one session per event loop."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        extra_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 600.0,
        max_retries: int = 2,
        trust_env: bool = True,
        connections: int = 100,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.extra_body = dict(extra_body or {})
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.trust_env = trust_env
        self.connections = connections
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        if api_key and api_key != NO_KEY:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
            weakref.WeakKeyDictionary()
        )
        self._closers: list[AsyncIterator[None]] = []

    @classmethod
    def from_chat_openai(cls, model: ChatOpenAI, *, trust_env: bool, connections: int) -> HttpChat:
        """The same requests a given `ChatOpenAI` would send (its own retries and timeout)."""
        timeout = model.request_timeout
        return cls(
            model.openai_api_base or "https://api.openai.com/v1",
            model.model_name,
            api_key=model.openai_api_key.get_secret_value() if model.openai_api_key else "",
            extra_body=model.extra_body,
            headers=model.default_headers,
            timeout_s=float(timeout if isinstance(timeout, int | float) else 600.0),
            max_retries=int(model.max_retries or 0),
            trust_env=trust_env,
            connections=connections,
        )

    def body(self, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body: the model's name and extra fields, the messages, this call's parameters."""
        return {"model": self.model, "messages": messages, **self.extra_body, **params}

    async def post(self, body: dict[str, Any]) -> EndpointReply:
        """POST `body`, retrying what may succeed later; raises `EndpointFailure` with the last reason."""
        data = orjson.dumps(body)
        session = await self._session()
        for retry in range(self.max_retries + 1):
            reason, retry_after, retryable = await self._attempt(session, data)
            if isinstance(reason, dict):
                return EndpointReply(reason, retry)
            if not retryable or retry == self.max_retries:
                attempts = f" (after {retry + 1} attempts)" if retry else ""
                raise EndpointFailure(reason + attempts, retry)
            await asyncio.sleep(backoff_s(retry, retry_after))
        raise AssertionError("unreachable")

    async def _attempt(self, session: aiohttp.ClientSession, data: bytes) -> tuple[dict | str, str | None, bool]:
        """(the reply body, or a failure reason; the server's Retry-After; whether to retry)."""
        try:
            async with session.post(self.url, data=data, headers=self.headers) as response:
                content = await response.read()
                status, content_type = response.status, response.headers.get("Content-Type", "")
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            return f"timed out after {self.timeout_s:g} s", None, True
        except (aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": "), None, True
        if 200 <= status < 300:
            body, reason = read_completion(content, content_type)
            return (body, None, False) if body is not None else (f"malformed reply: {reason}", None, True)
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        detail = error_message(content)
        text = f"HTTP {status} {phrase}".rstrip() + (f": {detail}" if detail else "")
        return text, retry_after, status in _RETRYABLE_STATUS

    async def _session(self) -> aiohttp.ClientSession:
        """This loop's session, closed when the loop shuts down its async generators (`asyncio.run`
        does), since a session belongs to the loop that opened it."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._sessions[loop] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                trust_env=self.trust_env,
            )
            closer = _close_at_shutdown(session)
            await anext(closer)
            self._closers.append(closer)
        return session


async def _close_at_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await session.close()
