"""Trace spans without a tracing library: nodes and model calls open spans here, and the tracking
layer installs the tracer that records them (MLflow) around each traced item.

One item's trace holds the spans a user reads — the item, each node, each model call — and
nothing else, so tracing costs a few spans per item instead of a callback per LangChain runnable.
With no tracer installed (tracing off, or an item not sampled) a span is a shared no-op object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, Literal, Protocol

__all__ = ["Span", "SpanKind", "Tracer", "active", "span", "tracing"]

SpanKind = Literal["CHAIN", "CHAT_MODEL", "AGENT", "UNKNOWN"]


class Span(Protocol):
    def set_outputs(self, outputs: Any) -> None: ...
    def set_attributes(self, attributes: Mapping[str, Any]) -> None: ...
    def set_usage(self, input_tokens: int, output_tokens: int) -> None: ...
    def fail(self, message: str) -> None:
        """Mark the span as an error (a failed call, a failed item), with the reason."""


class Tracer(Protocol):
    def span(
        self, name: str, kind: SpanKind, inputs: Any, attributes: Mapping[str, Any]
    ) -> AbstractContextManager[Span]: ...


class _NoSpan:
    def set_outputs(self, outputs: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def set_usage(self, input_tokens: int, output_tokens: int) -> None:
        pass

    def fail(self, message: str) -> None:
        pass


_NO_SPAN = _NoSpan()
_TRACER: ContextVar[Tracer | None] = ContextVar("orch_tracer", default=None)


@contextmanager
def span(
    name: str, kind: SpanKind = "UNKNOWN", inputs: Any = None, attributes: Mapping[str, Any] | None = None
) -> Iterator[Span]:
    """A child of the current span in this task's trace, or a no-op when nothing is traced."""
    tracer = _TRACER.get()
    if tracer is None:
        yield _NO_SPAN
        return
    with tracer.span(name, kind, inputs, attributes or {}) as opened:
        yield opened


@contextmanager
def tracing(tracer: Tracer | None) -> Iterator[None]:
    """Record the spans opened in this context (and the tasks it starts) with `tracer`."""
    token = _TRACER.set(tracer)
    try:
        yield
    finally:
        _TRACER.reset(token)


def active() -> bool:
    """Whether spans opened here are recorded (to skip building inputs nobody reads)."""
    return _TRACER.get() is not None
