"""`orch ask`: one question through a graph, shown step by step, logged as one MLflow run."""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from orch.cli.options import ConfigOpt, GraphOpt, JsonOpt, RouterOpt
from orch.cli.render import analyses_table, analysis_notes, console, decision_lines
from orch.errors import DatasetError
from orch.items import Item

__all__ = ["ask"]


def _item_from_file(path: Path) -> Item:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(path, None, "file not found") from None
    except ValueError as exc:
        raise DatasetError(path, f"line {getattr(exc, 'lineno', '?')}", f"invalid JSON: {exc}") from exc
    if isinstance(data, dict):
        data.setdefault("id", f"file/{path.stem}")
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DatasetError(path, ".".join(map(str, first["loc"])) or None, first["msg"]) from exc


def ask(
    question: Annotated[str | None, typer.Argument(help="The question text.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="An option, in order A, B, …; none makes it a numeric question."),
    ] = None,
    item: Annotated[
        Path | None, typer.Option("--item", help="A JSON item {question, options, answer?} instead.")
    ] = None,
    answer: Annotated[str | None, typer.Option("--answer", help="The gold answer, if you know it.")] = None,
    graph: GraphOpt = "orch",
    config: ConfigOpt = None,
    router: RouterOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Answer one question with a graph and show the analyses, the merge decision and the answer."""
    from orch.recording import log_graph, log_results, run_params
    from orch.routers.report import router_metrics
    from orch.session import Session
    from orch.tracking import Tracker

    if item is not None:
        the_item = _item_from_file(item)
    elif question:
        digest = hashlib.sha256(json.dumps([question, option or []]).encode()).hexdigest()[:12]
        try:
            the_item = Item(
                id=f"ask/{digest}", question=question, options=tuple(option) if option else None, answer=answer
            )
        except ValidationError as exc:
            raise typer.BadParameter(exc.errors()[0]["msg"]) from exc
    else:
        raise typer.BadParameter("give a QUESTION with -o options, or --item FILE.json")
    session = Session(graph, config)
    tracker = Tracker()
    with (
        tracker.start_run(
            tracker.experiment_name("ask"), f"ask {session.spec.name}", tags={"orch.command": "ask"}
        ) as run_id,
        ExitStack() as stack,
    ):
        with console.status(f"Starting {len(session.agents)} agent(s): {', '.join(session.agents)}"):
            runner = stack.enter_context(
                session.runner(router_id=router, scope=run_id, on_router_update=router_metrics(tracker))
            )
        tracker.log_params(run_params(session, runner, item_id=the_item.id))
        log_graph(tracker, session, runner)
        with console.status("Thinking…"):
            result = asyncio.run(runner.answer(the_item, item_context=tracker.item_trace))
        log_results(tracker, [result])
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    console.print(analyses_table(result))
    for line in analysis_notes(result, width=max(40, console.width - 20)):
        console.print(line)
    for line in decision_lines(result):
        console.print(line)
    console.print(f"[dim]MLflow run {run_id} in {tracker.tracking_uri} — open it with `orch ui`[/]")
