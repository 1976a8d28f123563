"""The trace writer: a process of its own that stores the traces orch records in memory.

Storing a trace in MLflow's SQL store costs 20 ms of CPU plus 3 ms per span (SQLAlchemy); in the
process answering items that is GIL time taken from the event loop, and at 64 items in flight
MLflow's own export queue fell behind and dropped traces. Here a finished item's spans (plain data,
see `orch.spans.SpanRecorder`) are handed to a child process over a pipe (by a feeder thread: the
event loop never blocks on it), which writes them with MLflow's public span API and the original
timestamps. Only finished items are sent, so no trace is ever left IN_PROGRESS; `flush` waits until
everything sent is stored (and the gold/correct assessments logged) and says what failed.

"""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from orch.spans import SpanRecord

__all__ = ["TraceJob", "TraceWriter"]

_FLUSH_TIMEOUT_S = 600.0
_CHILD = "import sys; from orch.tracking.writer import serve; serve(sys.stdin.buffer, sys.argv[1])"
"""The child's program (not `-m`: the package imports this module, which `-m` would run twice)."""


@dataclass(frozen=True)
class TraceJob:
    """One finished item's trace: its spans (the root first), where it belongs, what to assess."""

    run_id: str
    experiment_id: str
    spans: list[SpanRecord]
    tags: dict[str, str]
    gold: str | None = None
    correct: bool | None = None


class TraceWriter:
    """The parent's side: `submit` never blocks; `flush` waits for the child to store everything."""

    def __init__(self, tracking_uri: str) -> None:
        command = [sys.executable, "-c", _CHILD, tracking_uri]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._jobs: queue.Queue[object] = queue.Queue()
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._feed, name="orch-trace-feeder", daemon=True).start()
        threading.Thread(target=self._read, name="orch-trace-replies", daemon=True).start()
        self._flushes = 0

    def submit(self, job: TraceJob) -> None:
        self._jobs.put(job)

    def flush(self, timeout_s: float = _FLUSH_TIMEOUT_S) -> dict[str, Any]:
        """Wait until every job submitted so far is stored: {"written", "failed", "errors"} since
        the last flush (an error names what went wrong in the first failures)."""
        self._flushes += 1
        self._jobs.put(("flush", self._flushes))
        try:
            while (reply := self._replies.get(timeout=timeout_s)).get("flush") not in (self._flushes, -1):
                pass
        except queue.Empty:
            return {"written": 0, "failed": 0, "errors": [f"the trace writer did not finish in {timeout_s:g} s"]}
        return reply

    def close(self) -> None:
        self._jobs.put(None)
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def _feed(self) -> None:
        pipe = self._process.stdin
        assert pipe is not None
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    pipe.close()
                    return
                pickle.dump(job, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.flush()
            except (BrokenPipeError, OSError):
                self._replies.put({"flush": -1, "written": 0, "failed": 0, "errors": ["the trace writer stopped"]})
                return

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._replies.put(json.loads(line))
        self._replies.put({"flush": self._flushes, "written": 0, "failed": 0, "errors": ["the trace writer exited"]})


# -- the child's side ------------------------------------------------------------------------------
def _write(job: TraceJob) -> str:
    """Store one trace through MLflow's public span API, with the recorded times; its trace id."""
    import mlflow
    from mlflow.entities import SpanStatusCode
    from mlflow.tracing.constant import SpanAttributeKey, TraceMetadataKey

    opened: dict[int, Any] = {}
    for record in job.spans:
        parent = opened.get(record.parent_id) if record.parent_id is not None else None
        opened[record.span_id] = mlflow.start_span_no_context(
            record.name,
            span_type=record.kind,
            parent_span=parent,
            inputs=record.inputs,
            attributes=record.attributes,
            tags=job.tags if parent is None else None,
            metadata={TraceMetadataKey.SOURCE_RUN: job.run_id} if parent is None else None,
            experiment_id=job.experiment_id if parent is None else None,
            start_time_ns=record.start_ns,
        )
    for record in reversed(job.spans):  # children end first; the root's end exports the trace
        span = opened[record.span_id]
        if record.usage is not None:
            i, o = record.usage
            span.set_attribute(
                SpanAttributeKey.CHAT_USAGE, {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}
            )
        if record.error is not None:
            span.set_attribute("error", record.error)
        status = SpanStatusCode.ERROR if record.error is not None else SpanStatusCode.OK
        span.end(outputs=record.outputs, status=status, end_time_ns=max(record.end_ns, record.start_ns))
    return opened[job.spans[0].span_id].trace_id


def _assess(trace_id: str, gold: str, correct: bool) -> None:
    """Gold as an expectation and correctness as feedback, so MLflow's Traces view filters right
    and wrong answers (after the flush: an assessment needs its trace stored)."""
    import mlflow
    from mlflow.entities import AssessmentSource

    source = AssessmentSource(source_type="CODE", source_id="orch")
    mlflow.log_expectation(trace_id=trace_id, name="gold", value=gold, source=source)
    mlflow.log_feedback(trace_id=trace_id, name="correct", value=correct, source=source)


def serve(jobs: BinaryIO, tracking_uri: str) -> None:
    """The child's loop: write each job, answer each flush; exit at the end of input."""
    import logging
    import signal

    import mlflow

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri)
    written, failed, errors, assessments = 0, 0, [], []
    while True:
        try:
            job = pickle.load(jobs)
        except EOFError:
            job = ("flush", 0)
        if isinstance(job, TraceJob):
            try:
                trace_id = _write(job)
                written += 1
                if job.gold is not None and job.correct is not None:
                    assessments.append((trace_id, job.gold, job.correct))
            except Exception as exc:  # one bad trace must not stop the others
                failed += 1
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        mlflow.flush_trace_async_logging()
        for trace_id, gold, correct in assessments:
            try:
                _assess(trace_id, gold, correct)
            except Exception as exc:
                errors.append(f"assessment: {type(exc).__name__}: {exc}"[:300])
        if job[1] == 0:  # end of input: the parent closed the pipe (or died); all is stored, so
            os._exit(0)  # skip MLflow's exit handlers, which wait seconds on an empty queue
        try:
            print(json.dumps({"flush": job[1], "written": written, "failed": failed, "errors": errors[:5]}), flush=True)
        except BrokenPipeError:  # the parent is gone
            os._exit(0)
