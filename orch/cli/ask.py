"""`orch ask`: one question through a graph, shown step by step, logged as one MLflow run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orch.cli.options import ConfigOpt, GraphOpt, JsonOpt, RouterOpt
from orch.cli.render import analyses_table, analysis_notes, console, decision_lines, end_of_run

if TYPE_CHECKING:
    from orch.items import Item

__all__ = ["ask"]


def _item_from_file(path: Path) -> Item:
    from pydantic import ValidationError

    from orch.errors import DatasetError
    from orch.items import Item

    if path.is_dir():
        raise DatasetError(path, None, "is a folder; give a JSON file {question, options, answer?}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"byte {exc.start}", "not UTF-8 text") from exc
    except ValueError as exc:
        raise DatasetError(path, f"line {getattr(exc, 'lineno', '?')}", f"invalid JSON: {exc}") from exc
    if isinstance(data, dict):
        data.setdefault("id", f"file/{path.stem}")
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise DatasetError(path, ".".join(map(str, first["loc"])) or None, message) from exc


def _the_item(question: str | None, option: list[str] | None, item: Path | None, answer: str | None) -> Item:
    from pydantic import ValidationError

    from orch.api import make_item

    if item is not None:
        return _item_from_file(item)
    if not question:
        raise typer.BadParameter("give a QUESTION with -o options, or --item FILE.json")
    try:
        return make_item(question, option, answer)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from exc


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
    import orch

    the_item = _the_item(question, option, item, answer)
    status = console.status("Checking the graph…")
    with status:
        outcome = orch.ask(
            the_item,
            graph=graph,
            pool=config,
            router=router,
            on_start=lambda s: status.update(f"Starting {len(s.agents)} agent(s) and thinking: {', '.join(s.agents)}"),
        )
    result = outcome.result
    if as_json:
        print(result.model_dump_json(indent=2))
        if result.status == "failed":
            raise typer.Exit(1)
        return
    console.print(analyses_table(result))
    for line in analysis_notes(result, width=max(40, console.width - 20)):
        console.print(line)
    for line in decision_lines(result):
        console.print(line)
    for failure in result.failures:
        console.print(f"[red]failed call: {failure}[/]")
    console.print(f"[dim]MLflow run {outcome.run_id} in {outcome.tracking_uri} — open it with `orch ui`[/]")
    end_of_run(1, int(result.status == "degraded"), int(result.status == "failed"))
