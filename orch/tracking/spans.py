"""orch's trace spans (`orch.spans`) recorded as MLflow spans: a call span is a CHAT_MODEL span
with its token usage where MLflow's trace view sums it, a failed call or item an ERROR span."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow.entities import SpanStatus, SpanStatusCode, SpanType
from mlflow.tracing.constant import SpanAttributeKey

from orch.spans import SpanKind

__all__ = ["MLFLOW_TRACER"]

_TYPES: dict[str, str] = {
    "CHAIN": SpanType.CHAIN,
    "CHAT_MODEL": SpanType.CHAT_MODEL,
    "AGENT": SpanType.AGENT,
    "UNKNOWN": SpanType.UNKNOWN,
}


class _MlflowSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def set_outputs(self, outputs: Any) -> None:
        self._span.set_outputs(outputs)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self._span.set_attributes(dict(attributes))

    def set_usage(self, input_tokens: int, output_tokens: int) -> None:
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        self._span.set_attribute(SpanAttributeKey.CHAT_USAGE, {**usage, "total_tokens": input_tokens + output_tokens})

    def fail(self, message: str) -> None:
        self._span.set_status(SpanStatus(SpanStatusCode.ERROR, message))
        self._span.set_attribute("error", message)


class _MlflowTracer:
    @contextmanager
    def span(self, name: str, kind: SpanKind, inputs: Any, attributes: Mapping[str, Any]) -> Iterator[_MlflowSpan]:
        with mlflow.start_span(name=name, span_type=_TYPES[kind]) as opened:
            if inputs is not None:
                opened.set_inputs(inputs)
            if attributes:
                opened.set_attributes(dict(attributes))
            yield _MlflowSpan(opened)


MLFLOW_TRACER = _MlflowTracer()
