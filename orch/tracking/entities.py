"""A recorded trace as MLflow entities: the `TraceInfo` (with its assessments) and the `Span`s.

The trace writer stores these in batches (one `start_trace` per trace, one `log_spans` per batch)
instead of replaying each span through MLflow's tracing provider: the provider exports every span
as it ends, one database transaction each, which cost ~55 ms of CPU per nine-span trace and
capped a run at ~18 traces per second. The fields are those the provider writes, so MLflow's
Traces view, `mlflow.search_traces` and the assessments read the same.
"""

from __future__ import annotations

import base64
import random
from typing import TYPE_CHECKING, Any

import orjson
from mlflow.entities import (
    AssessmentSource,
    Expectation,
    Feedback,
    Span,
    TraceInfo,
    TraceLocation,
    TraceState,
)
from mlflow.tracing.constant import (
    TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS,
    TRACE_SCHEMA_VERSION,
    TRACE_SCHEMA_VERSION_KEY,
    SpanAttributeKey,
    SpansLocation,
    TraceMetadataKey,
    TraceTagKey,
)

from orch.spans import SpanRecord

if TYPE_CHECKING:
    from orch.tracking.writer import TraceJob

__all__ = ["trace_entities"]

_SOURCE = AssessmentSource(source_type="CODE", source_id="orch")
_METADATA_PREVIEW_CHARS = 250
_rng = random.SystemRandom()


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _span(record: SpanRecord, trace_id: str, otel_trace_id: int, span_ids: dict[int, int]) -> Span:
    attributes = {key: _json(value) for key, value in record.attributes.items()}
    attributes[SpanAttributeKey.REQUEST_ID] = _json(trace_id)
    attributes[SpanAttributeKey.SPAN_TYPE] = _json(record.kind)
    attributes[SpanAttributeKey.INPUTS] = _json(record.inputs)
    attributes[SpanAttributeKey.OUTPUTS] = _json(record.outputs)
    if record.usage is not None:
        i, o = record.usage
        attributes[SpanAttributeKey.CHAT_USAGE] = _json({"input_tokens": i, "output_tokens": o, "total_tokens": i + o})
    if record.error is not None:
        attributes["error"] = _json(record.error)
    parent = span_ids.get(record.parent_id) if record.parent_id is not None else None
    return Span.from_dict(
        {
            "trace_id": _b64(otel_trace_id, 16),
            "span_id": _b64(span_ids[record.span_id], 8),
            "parent_span_id": _b64(parent, 8) if parent is not None else None,
            "name": record.name,
            "start_time_unix_nano": record.start_ns,
            "end_time_unix_nano": max(record.end_ns, record.start_ns),
            "status": {
                "code": "STATUS_CODE_ERROR" if record.error is not None else "STATUS_CODE_OK",
                "message": record.error or "",
            },
            "attributes": attributes,
        }
    )


def _token_usage(spans: list[SpanRecord]) -> dict[str, int]:
    i = sum(s.usage[0] for s in spans if s.usage is not None)
    o = sum(s.usage[1] for s in spans if s.usage is not None)
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


def _info(job: TraceJob, trace_id: str, run_id: str, experiment_id: str) -> TraceInfo:
    root = job.spans[0]
    request, response = _json(root.inputs), _json(root.outputs)
    metadata = {
        TRACE_SCHEMA_VERSION_KEY: str(TRACE_SCHEMA_VERSION),
        TraceMetadataKey.SOURCE_RUN: run_id,
        TraceMetadataKey.INPUTS: _cut(request, _METADATA_PREVIEW_CHARS),
        TraceMetadataKey.OUTPUTS: _cut(response, _METADATA_PREVIEW_CHARS),
    }
    if any(s.usage is not None for s in job.spans):
        metadata[TraceMetadataKey.TOKEN_USAGE] = _json(_token_usage(job.spans))
    assessments: list[Expectation | Feedback] = []
    if job.gold is not None:
        assessments.append(Expectation(name="gold", value=job.gold, source=_SOURCE, trace_id=trace_id))
    if job.correct is not None:  # a failed item is not scored
        assessments.append(Feedback(name="correct", value=job.correct, source=_SOURCE, trace_id=trace_id))
    return TraceInfo(
        trace_id=trace_id,
        trace_location=TraceLocation.from_experiment_id(experiment_id),
        request_time=root.start_ns // 1_000_000,
        execution_duration=max(root.end_ns - root.start_ns, 0) // 1_000_000,
        state=TraceState.ERROR if root.error is not None else TraceState.OK,
        request_preview=_cut(request, TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS),
        response_preview=_cut(response, TRACE_REQUEST_RESPONSE_PREVIEW_MAX_LENGTH_OSS),
        trace_metadata=metadata,
        tags={
            **job.tags,
            TraceTagKey.TRACE_NAME: root.name,
            TraceTagKey.SPANS_LOCATION: SpansLocation.TRACKING_STORE.value,
        },
        assessments=assessments,
    )


def trace_entities(job: TraceJob, run_id: str, experiment_id: str) -> tuple[TraceInfo, list[Span]]:
    """The job's trace info and spans in the run's experiment, under fresh random OpenTelemetry
    ids (as MLflow's own)."""
    otel_trace_id = _rng.getrandbits(128)
    trace_id = f"tr-{otel_trace_id:032x}"
    span_ids = {record.span_id: _rng.getrandbits(64) or 1 for record in job.spans}
    spans = [_span(record, trace_id, otel_trace_id, span_ids) for record in job.spans]
    return _info(job, trace_id, run_id, experiment_id), spans
