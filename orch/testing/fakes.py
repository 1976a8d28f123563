"""Deterministic fake chat models, shipped with the code like DSPy's `DummyLM`.

For unit tests and notebooks only: they never reach a network. Tests that cross the real HTTP
boundary use the managed llama.cpp server instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field

__all__ = ["Script", "ScriptedChatModel", "schema_enum"]

Script = str | Sequence[str] | Callable[[list[BaseMessage], dict[str, Any]], "str | BaseException"]


def schema_enum(kwargs: dict[str, Any]) -> list[str] | None:
    """The answer enum a call constrained its output to, if any (what llama.cpp's grammar would enforce)."""
    fmt = kwargs.get("response_format") or {}
    schema = fmt.get("json_schema", {}).get("schema", {}) if isinstance(fmt, dict) else {}
    return schema.get("properties", {}).get("answer", {}).get("enum")


class ScriptedChatModel(BaseChatModel):
    """Replies from a script: one fixed text, a list consumed in order, or a function of the call.

    A function may return an exception instance, which is raised (to simulate a failing endpoint).
    Every call is recorded in `calls` with its messages and request kwargs.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: Script
    delay_s: float | Callable[[int], float] = 0.0
    """Seconds to wait before replying (a function of the call index), to shuffle parallel arrivals."""
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        self.calls.append({"messages": messages, "kwargs": kwargs})
        script = self.script
        if isinstance(script, str):
            reply: str | BaseException = script
        elif callable(script):
            reply = script(messages, kwargs)
        else:
            index = len(self.calls) - 1
            if index >= len(script):
                raise AssertionError(f"scripted model ran out of replies after {len(script)} calls")
            reply = script[index]
        if isinstance(reply, BaseException):
            raise reply
        return reply if isinstance(reply, str) else json.dumps(reply)

    def _result(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        text = self._reply(messages, kwargs)
        prompt_chars = sum(len(str(m.content)) for m in messages)
        usage = {"input_tokens": prompt_chars // 4, "output_tokens": max(1, len(text) // 4)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        message = AIMessage(content=text, usage_metadata=usage, response_metadata={"finish_reason": "stop"})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(messages, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay = self.delay_s(len(self.calls)) if callable(self.delay_s) else self.delay_s
        if delay:
            await asyncio.sleep(delay)
        return self._result(messages, kwargs)
