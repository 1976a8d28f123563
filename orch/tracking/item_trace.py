"""One item's trace, recorded in memory: the root span `item <id>` with orch's node and call spans
inside (see `orch.spans`: a few spans per item, not one per LangChain runnable), handed over as a
`TraceJob` when the item is finished."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orch.spans as spans
from orch.items import Item
from orch.tracking.writer import TraceJob

__all__ = ["record_item"]


@contextmanager
def record_item(
    item: Item, attributes: Mapping[str, object] | None, submit: Callable[[TraceJob], None]
) -> Iterator[Callable[[Any], None]]:
    """Record the spans opened inside; yields a finisher that puts the result's answer and
    correctness on the root span (a failed item's root is an error with the reasons)."""
    recorder = spans.SpanRecorder()
    outcome: dict[str, Any] = {"tags": {"item_id": item.id}}
    inputs = {"id": item.id, "question": item.question, "options": list(item.options or [])}
    attributes = {"item_id": item.id, "gold": item.answer or "", **dict(attributes or {})}
    with spans.tracing(recorder), recorder.span(f"item {item.id}", "CHAIN", inputs, attributes) as root:

        def finish(result: Any) -> None:
            root.set_outputs({"answer": result.answer, "correct": result.correct, "method": result.decision.method})
            root.set_attributes({"answer": result.answer or "", "correct": str(result.correct)})
            if result.status == "failed":  # the Traces view shows it as an error, with the reasons
                root.fail("; ".join(result.failures))
                root.set_attributes({"failures": "; ".join(result.failures)})
            outcome["tags"].update(graph=result.graph, correct=str(result.correct))
            outcome["correct"] = result.correct

        yield finish
    submit(TraceJob(recorder.spans, outcome["tags"], item.answer, outcome.get("correct")))
