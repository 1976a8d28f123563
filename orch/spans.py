"""Trace spans without a tracing library: nodes and model calls open spans here, and the tracking
layer installs a tracer around each traced item.

One item's trace holds the spans a user reads — the item, each node, each model call — and
nothing else, so tracing costs a few spans per item instead of a callback per LangChain runnable.
`SpanRecorder` keeps them in memory as plain data (microseconds per span); the tracking layer
hands the finished trace to a writer process, so storing it never competes with the calls. With
no tracer installed (tracing off, or an item not sampled) a span is a shared no-op object.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Span", "SpanKind", "SpanRecord", "SpanRecorder", "Tracer", "active", "jsonable", "span", "tracing"]

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


def jsonable(value: Any) -> Any:
    """Plain JSON data for a span's inputs and outputs (pydantic records are dumped)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    return jsonable(dump(mode="json")) if callable(dump) else str(value)


@dataclass
class SpanRecord:
    """One finished (or failed) span as plain data, in the order spans were opened."""

    span_id: int
    parent_id: int | None
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int = 0
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    usage: tuple[int, int] | None = None
    error: str | None = None

    def set_outputs(self, outputs: Any) -> None:
        self.outputs = jsonable(outputs)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(jsonable(dict(attributes)))

    def set_usage(self, input_tokens: int, output_tokens: int) -> None:
        self.usage = (input_tokens, output_tokens)

    def fail(self, message: str) -> None:
        self.error = message


_CURRENT: ContextVar[int | None] = ContextVar("orch_current_span", default=None)


class SpanRecorder:
    """Records one item's spans; the parent of a span is the span open in its task when it started
    (LangGraph's fan-out tasks copy the context, so each analyst's calls nest under its node)."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self._ids = itertools.count(1)

    @contextmanager
    def span(self, name: str, kind: SpanKind, inputs: Any, attributes: Mapping[str, Any]) -> Iterator[SpanRecord]:
        record = SpanRecord(next(self._ids), _CURRENT.get(), name, kind, time.time_ns(), inputs=jsonable(inputs))
        record.set_attributes(attributes)
        self.spans.append(record)
        token = _CURRENT.set(record.span_id)
        try:
            yield record
        except BaseException as exc:
            if record.error is None:
                record.fail(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            record.end_ns = time.time_ns()
            _CURRENT.reset(token)
