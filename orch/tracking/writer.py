"""The trace writer: a process of its own that stores the traces orch records in memory.

Storing traces in MLflow's SQL store is SQLAlchemy work; in the process answering items that is
GIL time taken from the event loop, and at 64 items in flight MLflow's own export queue fell
behind and dropped traces. Here a finished item's spans (plain data, see `orch.spans.SpanRecorder`)
are handed to a child process over a pipe (by a feeder thread: the event loop never blocks on it),
in batches of what has queued up. The child stores each trace's info with its gold/correct
assessments, then the batch's spans in one call (`orch.tracking.entities`: ~25 ms per trace
against ~75 ms when replayed span by span through MLflow's tracing provider). Only finished items
are sent, so no trace is ever left IN_PROGRESS; `flush` waits until everything sent is stored and
says what failed.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from orch.spans import SpanRecord

__all__ = ["TraceJob", "TraceWriter", "store_trace"]

_FLUSH_TIMEOUT_S = 600.0
_BATCH = 64
_CHILD = "import sys; from orch.tracking.writer import serve; serve(sys.stdin.buffer, sys.argv[1])"
"""The child's program (not `-m`: the package imports this module, which `-m` would run twice)."""


@dataclass(frozen=True)
class TraceJob:
    """One finished item's trace: its spans (the root first), its tags, what to assess."""

    spans: list[SpanRecord]
    tags: dict[str, str]
    gold: str | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class TraceBatch:
    """Jobs of one run, as the child receives them."""

    run_id: str
    experiment_id: str
    jobs: list[TraceJob]


class TraceWriter:
    """The parent's side: `submit` never blocks; `flush` waits for the child to store everything."""

    def __init__(self, location: Callable[[], tuple[str, str, str]]) -> None:
        """`location` gives the run's (tracking URI, run id, experiment id). The feeder thread asks
        for it (it may wait for the run to be opened, never the caller) before it starts the
        child, so the child never touches a store that is still being created."""
        self._location = location
        self._process: subprocess.Popen[bytes] | None = None
        self._jobs: queue.Queue[object] = queue.Queue()
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._feeder = threading.Thread(target=self._feed, name="orch-trace-feeder", daemon=True)
        self._feeder.start()
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
        self._feeder.join(timeout=60)
        if self._process is None:
            return
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def _feed(self) -> None:
        try:
            uri, run_id, experiment_id = self._location()
        except Exception as exc:  # the run was never opened: nothing can be stored
            return self._refuse(f"{type(exc).__name__}: {exc}"[:300])
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        threading.Thread(target=self._read, name="orch-trace-replies", daemon=True).start()
        pipe = self._process.stdin
        assert pipe is not None
        while True:
            for message in self._batches():
                try:
                    if message is None:
                        pipe.close()
                        return
                    if isinstance(message, list):
                        message = TraceBatch(run_id, experiment_id, message)
                    pickle.dump(message, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                    pipe.flush()
                except (BrokenPipeError, OSError):
                    self._replies.put({"flush": -1, "written": 0, "failed": 0, "errors": ["the trace writer stopped"]})
                    return

    def _refuse(self, reason: str) -> None:
        """Answer each flush with the jobs that could not be stored, until closed."""
        failed = 0
        while (message := self._jobs.get()) is not None:
            if isinstance(message, TraceJob):
                failed += 1
            elif isinstance(message, tuple):
                self._replies.put({"flush": message[1], "written": 0, "failed": failed, "errors": [reason]})
                failed = 0

    def _batches(self) -> list[object]:
        """What is queued now, the jobs gathered into lists of at most `_BATCH` (the child stores
        a batch in one transaction per table), flushes and the end kept in their place."""
        messages: list[object] = []
        batch: list[TraceJob] = []
        item = self._jobs.get()
        while True:
            if isinstance(item, TraceJob):
                batch.append(item)
            if batch and (not isinstance(item, TraceJob) or len(batch) == _BATCH):
                messages.append(batch)
                batch = []
            if not isinstance(item, TraceJob):
                messages.append(item)
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return messages + ([batch] if batch else [])

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._replies.put(json.loads(line))
        self._replies.put({"flush": self._flushes, "written": 0, "failed": 0, "errors": ["the trace writer exited"]})


# -- the child's side ------------------------------------------------------------------------------
def _store(client: Any, batch: TraceBatch) -> tuple[int, list[str]]:
    """Store a batch: each trace's info (assessments included) on its own, then all the batch's
    spans in one call. How many were written, and what went wrong."""
    from orch.tracking.entities import trace_entities

    errors: list[str] = []
    started: list[Any] = []
    for job in batch.jobs:
        try:
            info, spans = trace_entities(job, batch.run_id, batch.experiment_id)
            client.start_trace(info)
            started.append(spans)
        except Exception as exc:  # one bad trace must not stop the others
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
    if not started:
        return 0, errors
    try:
        client.log_spans(batch.experiment_id, [span for spans in started for span in spans])
    except Exception as exc:
        return 0, [*errors, f"spans: {type(exc).__name__}: {exc}"[:300]]
    return len(started), errors


def store_trace(tracking_uri: str, job: TraceJob, run_id: str, experiment_id: str) -> list[str]:
    """Store one trace in this process, now: for a run of one item (a served request), where
    starting a writer process would cost more than the trace. What went wrong, if anything."""
    from mlflow.tracing.client import TracingClient

    _, errors = _store(TracingClient(tracking_uri), TraceBatch(run_id, experiment_id, [job]))
    return errors


def serve(jobs: BinaryIO, tracking_uri: str) -> None:
    """The child's loop: store each batch, answer each flush; exit at the end of input."""
    import logging
    import signal

    from mlflow.tracing.client import TracingClient

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    client = TracingClient(tracking_uri)
    written, failed, errors = 0, 0, []
    while True:
        try:
            message = pickle.load(jobs)
        except EOFError:
            os._exit(0)  # the parent closed the pipe (or died) and everything sent is stored
        if isinstance(message, TraceBatch):
            stored, problems = _store(client, message)
            written, errors = written + stored, errors + problems
            failed += len(message.jobs) - stored
            continue
        try:
            reply = {"flush": message[1], "written": written, "failed": failed, "errors": errors[:5]}
            print(json.dumps(reply), flush=True)
        except BrokenPipeError:  # the parent is gone
            os._exit(0)
        written, failed, errors = 0, 0, []
