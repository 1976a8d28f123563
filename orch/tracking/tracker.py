"""One MLflow run: params, metrics, the per-item table, artifacts and one trace per item.

A thin layer in MLflow's own style: each function resolves its inputs and delegates, and plural
names log batches. The run is opened on a thread of its own while the first calls go out
(`orch.tracking.runs`; `start_run` waits for it instead); what needs the run waits for it, and
MLflow itself is imported on that thread. Logging is best-effort — a failed upload warns and the
answer still stands — unless `strict` is set, as it is in tests.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from orch.errors import OrchError
from orch.items import Item
from orch.mlflow_config import MlflowSettings, load_mlflow_settings
from orch.tracking.item_trace import record_item
from orch.tracking.run_log import RunLog, metric_key
from orch.tracking.runs import RunThread, configure_tracking, lazy_mlflow, open_run
from orch.tracking.writer import TraceJob, TraceWriter, store_trace

__all__ = ["Tracker", "configure_tracking", "metric_key"]


class Tracker(RunLog):
    """One MLflow run: params, metrics, the per-item table, artifacts and per-item traces.

    Args:
        inline_traces: store each trace on the run's own MLflow thread rather than in a writer
            process: for runs of one item (`orch serve`: one run per request), where starting a
            process per run would cost more than the trace does.
    """

    def __init__(self, settings: MlflowSettings | None = None, *, inline_traces: bool = False) -> None:
        self.settings = settings or load_mlflow_settings()
        self.inline_traces = inline_traces
        self._run: RunThread | None = None
        """Opens the run and does its MLflow work off the event loop (see `orch.tracking.runs`)."""
        self._writer: TraceWriter | None = None
        """Stores the traces, in a process of its own (from a run's first traced item to its end)."""
        self._traced = 0
        """Traces of finished items handed to the writer since the run was (re)opened: the traces
        it must find written at the end."""
        self._buffered: list[tuple[str, float, int, int]] = []
        self._flushed = time.monotonic()

    @property
    def tracking_uri(self) -> str:
        return configure_tracking(self.settings)

    def experiment_name(self, kind: str, benchmark: str = "") -> str:
        template: str = getattr(self.settings.experiments, kind)
        return template.format(benchmark=benchmark or "custom")

    # -- the run ---------------------------------------------------------------------------
    @property
    def experiment_id(self) -> str | None:
        return self._run.ids()[1] if self._run is not None else None

    @contextmanager
    def start_run(
        self,
        experiment: str,
        run_name: str,
        *,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Iterator[str]:
        """Open a run, or reopen `run_id` to resume it, and wait until it is open (failures raise
        before any model call); see `open_run`."""
        with self.open_run(experiment, run_name, tags=tags, parent_run_id=parent_run_id, run_id=run_id):
            yield self.run_id or ""

    @contextmanager
    def open_run(
        self,
        experiment: str,
        run_name: str,
        *,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> Iterator[None]:
        """Open a run in the background (or reopen `run_id`) and return at once: what needs the run
        waits for it, `in_background` work follows it. At the end everything handed over is done,
        traces are checked, and the run ends KILLED on Ctrl-C or `kill`, FAILED if another
        exception escapes, FINISHED otherwise."""
        settings, the_tags = self.settings, dict(tags or {})
        self._run = RunThread(
            lambda: open_run(settings, experiment, run_name, the_tags, parent_run_id=parent_run_id, run_id=run_id)
        )
        opened_ms, self._traced, status = int(time.time() * 1000), 0, "FINISHED"
        try:
            yield
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            self._end_run(opened_ms, status)

    def run_trace_writer(self, run_id: str, experiment_id: str) -> TraceWriter:
        """A trace writer for `run_id` that its caller keeps across several `attach`es and closes."""
        settings = self.settings
        return TraceWriter(lambda: (configure_tracking(settings), run_id, experiment_id))

    @contextmanager
    def attach(self, run_id: str, experiment_id: str, *, writer: TraceWriter | None = None) -> Iterator[None]:
        """Write into a run another process opened and will end (a distributed evaluation's worker):
        traces, buffered metrics and artifacts go to `run_id`; the run is neither reopened nor ended
        here, and its owner counts the traces (`expect_traces`). A trace not stored warns (raises
        under `strict`). A `writer` kept by the caller (`run_trace_writer`; its process takes
        seconds to start) is flushed at the end, not closed."""
        settings = self.settings
        self._run = RunThread(lambda: (configure_tracking(settings), (run_id, experiment_id))[1])
        self._traced, self._writer = 0, writer
        try:
            yield
        finally:
            problem = self._run.settle()
            self.flush_metrics()
            used, self._writer = self._writer, None
            if used is not None and self._traced:
                for error in used.flush().get("errors", []):
                    self._warn_or_raise(f"MLflow: a trace was not stored: {error}", ending_badly=False)
            if used is not None and used is not writer:
                used.close()
            self._close_run()
            if problem is not None:
                raise problem

    @property
    def traced(self) -> int:
        """Traces handed to the writer since the run was opened or attached."""
        return self._traced

    def expect_traces(self, count: int) -> None:
        """Traces other processes stored in this run (its workers'), checked with its own when it ends."""
        self._traced += count

    def _end_run(self, opened_ms: int, status: str) -> None:
        """Settle the background work, write what is buffered, check the traces, end the run."""
        assert self._run is not None
        ending_badly = status != "FINISHED"  # interrupted or failing: never mask the cause
        try:
            run_id = self._run.ids()[0]
        except OrchError:
            self._close_run()
            if ending_badly:
                return
            raise
        problem = self._run.settle()
        # as `mlflow.start_run` would have: MLflow's fluent calls (search_traces, …) default to it
        self._best_effort("set the experiment", lambda: lazy_mlflow().set_experiment(experiment_id=self.experiment_id))
        self.flush_metrics()
        self._finish_traces(opened_ms, ending_badly=ending_badly)  # items cut off in flight have no trace
        self.end_as(run_id, "FAILED" if problem is not None and not ending_badly else status)
        self._close_run()
        if problem is not None and not ending_badly:
            raise problem

    def _close_run(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._run is not None:
            self._run.close()

    def _finish_traces(self, since_ms: int, *, ending_badly: bool) -> None:
        """Wait until the writer stored this run's traces, check them, and stop it (a run that
        traced nothing never started one)."""
        writer, self._writer = self._writer, None
        if writer is not None and self._traced:
            reply = writer.flush(30.0 if ending_badly else 600.0)  # an interrupted user waits less
            for error in reply.get("errors", []):
                self._warn_or_raise(f"MLflow: a trace was not stored: {error}", ending_badly)
        if self._traced:  # this process's traces and its workers' (see `expect_traces`)
            self._check_traces(since_ms, ending_badly=ending_badly)
        if writer is not None:
            writer.close()

    # -- traces ----------------------------------------------------------------------------
    @contextmanager
    def item_trace(
        self, item: Item, attributes: Mapping[str, object] | None = None
    ) -> Iterator[Callable[[Any], None] | None]:
        """One trace per item (see `record_item`), stored by the run's trace writer."""
        if not self.settings.tracing.traces(item.id):
            yield None
            return
        if self.inline_traces:
            with record_item(item, attributes, self._store_inline) as finish:
                yield finish
            return
        if self._writer is None:  # started by the first traced item: its MLflow import overlaps the calls
            self._writer = TraceWriter(self._trace_location)
        with record_item(item, attributes, self._submit_trace) as finish:
            yield finish

    def _store_inline(self, job: TraceJob) -> None:
        """Stored in order with the run's other work, before the run ends (a failure warns, or
        raises when strict)."""

        def store() -> None:
            uri, run_id, experiment_id = self._trace_location()
            for error in (
                self._best_effort("store the trace", lambda: store_trace(uri, job, run_id, experiment_id)) or []
            ):
                self._warn_or_raise(f"MLflow: a trace was not stored: {error}", False)

        self.in_background(store)

    def _submit_trace(self, job: TraceJob) -> None:
        assert self._writer is not None
        self._traced += 1
        self._writer.submit(job)

    def _trace_location(self) -> tuple[str, str, str]:
        """(tracking URI, run id, experiment id) for the writer's feeder thread, which may wait
        for the run to be opened."""
        run_id, experiment_id = self.run_id or "", self.experiment_id or ""
        return self.tracking_uri, run_id, experiment_id

    def _check_traces(self, since_ms: int, *, ending_badly: bool = False) -> None:
        """Count the traces written since the run was opened; say so (and log it) if any are missing."""
        if not self._traced:
            return
        found = self._best_effort(
            "count traces",
            lambda: lazy_mlflow().search_traces(
                locations=[self.experiment_id],
                run_id=self.run_id,
                filter_string=f"trace.timestamp_ms >= {since_ms}",
                include_spans=False,
                return_type="list",
                max_results=self._traced + 100,
            ),
        )
        if found is None:
            return
        done = sum(t.info.state.value in ("OK", "ERROR") for t in found)
        missing = max(0, self._traced - done)
        self.log_metrics({"traces_written": done, "traces_missing": missing})
        if missing:
            message = f"MLflow: {missing} of {self._traced} item traces were not written"
            self._warn_or_raise(message, ending_badly)

    def _warn_or_raise(self, message: str, ending_badly: bool) -> None:
        if self.settings.strict and not ending_badly:
            raise OrchError(message)
        warnings.warn(message, stacklevel=4)
