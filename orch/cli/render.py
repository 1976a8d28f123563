"""Rich tables for results: the only place, with the CLI, that knows about the terminal."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from orch.nodes.budgets import BudgetStop
    from orch.records import ItemResult
    from orch.summary import RunSummary

__all__ = [
    "BUDGET_EXIT",
    "analyses_table",
    "analysis_notes",
    "console",
    "decision_lines",
    "end_of_run",
    "items_table",
    "progress_bar",
    "summary_lines",
]


def _console() -> Console:
    """A terminal's own width; piped into a file or another program, wide enough that no column is cut."""
    probe = Console()
    if probe.is_terminal or "COLUMNS" in os.environ:
        return probe
    return Console(width=240)


console = _console()

BUDGET_EXIT = 3
"""The exit code of a run a budget stopped: not a failure (1), bad input (2) or an interruption (130)."""


def progress_bar(label: str) -> Progress:
    """A bar with done/total, a running figure (`acc` field), elapsed time and ETA."""
    return Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(label + " {task.fields[acc]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def _mark(correct: bool | None) -> str:
    return {True: "[green]✓[/]", False: "[red]✗[/]", None: "·"}[correct]


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def analyses_table(result: ItemResult) -> Table:
    """One row per analysis; what each analyst said is in `analysis_notes`, below it."""
    table = Table(title=f"Analyses ({result.graph})", title_justify="left")
    for column in ("#", "agent", "facet", "answer", "conf.", "read by", "tokens in/out", "s"):
        table.add_column(column, no_wrap=column != "facet")
    for number, a in enumerate(result.analyses, start=1):
        conf = f"{a.confidence:.2f}" if a.confidence is not None else ""
        answer = a.answer or "[red]invalid[/]"
        if result.item.answer and a.answer:
            answer = f"{a.answer} {_mark(a.answer == result.item.answer)}"
        table.add_row(
            str(number),
            a.agent,
            a.sub_question or a.facet or "",  # the dispatcher's sub-question takes the facet's place
            answer,
            conf,
            a.path,
            f"{a.usage.input_tokens}/{a.usage.output_tokens}",
            f"{a.usage.latency_ms / 1000:.1f}",
        )
    return table


def analysis_notes(result: ItemResult, width: int = 160) -> list[str]:
    """`#n agent: key point; key point …`, one line per analysis, cut to `width`."""
    lines = []
    for number, a in enumerate(result.analyses, start=1):
        said = "; ".join(a.analysis.key_points) if a.analysis and a.analysis.key_points else (a.reasoning or a.error)
        if said:
            lines.append(f"[dim]#{number} {a.agent}:[/] {_short(said, width)}")
    return lines


def decision_lines(result: ItemResult) -> list[str]:
    d = result.decision
    lines = []
    how = {
        "merge": f"merged by {d.agent} (reply read by: {d.path})",
        "merge_fallback_vote": f"merge reply from {d.agent} unreadable → confidence-weighted vote {d.tally}",
        "merge_fallback_order": f"merge reply unreadable → tied vote {d.tally} broken by agent priority",
        "vote": f"majority vote {d.tally}" + (f" ({d.note})" if d.note else ""),
        "weighted": f"reliability-weighted panel {d.tally} ({d.note})",
        "merge_fallback_weighted": f"merge reply from {d.agent} unusable → reliability-weighted panel ({d.note})",
        "direct": f"answered directly by {d.agent} (read by: {d.path})",
        "none": "no valid answer",
    }.get(d.method, f"{d.method} by {d.node}" + (f" ({d.note})" if d.note else ""))
    if result.routing:
        r = result.routing
        utilities = ", ".join(f"{a} {u:+.2f}" for a, u in r.utilities.items())
        lines.append(
            f"Routing: panel {', '.join(r.panel)}; merger {r.merger} (router {r.router_id} "
            f"v{r.state_version}; utilities {utilities})"
        )
    lines.append(f"Decision: {how}")
    if result.answer is not None and result.item.options is not None:
        final = f"[bold]{result.answer}[/]. {result.item.option_text(result.answer)}"
    else:
        final = f"[bold]{result.answer}[/]" if result.answer is not None else "[red]invalid (no readable answer)[/]"
    lines.append(f"Answer: {final}")
    if result.item.answer is not None:
        lines.append(f"Gold: {result.item.answer} {_mark(result.correct)}")
    lines.append(
        f"Time: {result.wall_ms / 1000:.1f} s (analyses {result.analysis_ms / 1000:.1f} s, "
        f"decision {result.decision_ms / 1000:.1f} s); tokens in/out {result.usage.input_tokens}/"
        f"{result.usage.output_tokens}; {result.usage.calls} calls"
    )
    return lines


def items_table(results: Sequence[ItemResult]) -> Table:
    """One row per item, one column per agent (and facet slot). Where an agent both analysed and
    answered directly, its cell is `analysis/direct`, so the table stays as wide as the panel."""
    agents = sorted({(a.agent, a.slot) for r in results for a in r.analyses})
    both = any(len({a.kind for a in r.analyses}) > 1 for r in results)
    caption = "agent cells: analysis/direct answer" if both else None
    table = Table(title="Items", title_justify="left", caption=caption, caption_justify="left")
    columns = ("item", "gold", "answer", "", "how", *(f"{a}{'#' + str(s) if s else ''}" for a, s in agents))
    for column in (*columns, "model s"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.item.id,
            r.item.answer or "",
            r.answer or "∅",
            _mark(r.correct),
            r.decision.method,
            *(_agent_cell(r, agent, slot) for agent, slot in agents),
            f"{r.model_ms / 1000:.1f}",
        )
    return table


def _agent_cell(result: ItemResult, agent: str, slot: int) -> str:
    """The agent's answers on this item: its analysis's, then its direct answer's (`B/A`)."""
    answers = [
        o.answer or "∅"
        for kind in ("analysis", "direct")
        for o in result.analyses
        if o.agent == agent and o.slot == slot and o.kind == kind
    ]
    return "/".join(answers)


def end_of_run(
    items: int,
    degraded: int,
    failed: int,
    *,
    max_failed: float = 0.0,
    stopped: BudgetStop | None = None,
    resumes: bool = True,
) -> None:
    """The run's last lines — answered, degraded, failed (and not started), then the budget's stop
    if one stopped it — and the exit code: 3 when a budget stopped the run (incomplete; the same
    evaluation run again continues), else 1 when more items failed than `max_failed` (a share)
    allows: a failure is never an answer, and scripts must see it.

    Args:
        items: every item the run was given (in an evaluation: items × systems), started or not.
    """
    import typer

    unstarted = stopped.not_started if stopped is not None else 0
    answered = items - failed - unstarted
    colour = "red" if failed else ("yellow" if degraded or stopped else "green")
    console.print(
        f"[{colour}]{answered} of {items} item(s) answered ({degraded} degraded: some call failed), "
        f"{failed} failed[/]"
        + (f"[{colour}], {unstarted} not started[/]" if stopped is not None else "")
        + (" — run the same command again to retry the failed items" if failed else "")
    )
    if stopped is not None:
        console.print(f"[yellow]{stopped.line(resumes=resumes)}[/]")
        raise typer.Exit(BUDGET_EXIT)
    if failed and failed > max_failed * items:
        raise typer.Exit(1)


def summary_lines(summary: RunSummary) -> list[str]:
    lines = []
    if summary.accuracy is not None:
        lines.append(
            f"Accuracy: {summary.correct}/{summary.graded} = {summary.accuracy:.1%} "
            f"(95% Wilson CI {summary.accuracy_ci_low:.1%}–{summary.accuracy_ci_high:.1%}); "
            f"invalid answers: {summary.invalid}"
        )
    lines.append(
        f"Model time per item: mean {summary.latency_ms_mean / 1000:.1f} s, p95 {summary.latency_ms_p95 / 1000:.1f} s "
        f"(wall {summary.wall_ms_mean / 1000:.1f} s: analyses {summary.analysis_ms_mean / 1000:.1f} s + decision "
        f"{summary.decision_ms_mean / 1000:.1f} s); tokens in/out per item "
        f"{summary.input_tokens_per_item:.0f}/{summary.output_tokens_per_item:.0f}"
    )
    for a in summary.agents:
        paths = ", ".join(f"{p} {c}" for p, c in a.paths.items())
        acc = f"own answers right {a.correct}/{a.outputs}; " if summary.graded else ""
        lines.append(f"  {a.agent}: {acc}read by {paths} (fallback rate {a.fallback_rate:.0%})")
    if (d := summary.dispatcher) is not None:
        lines.append(
            f"  dispatcher {d.agent}: {d.calls} call(s), mean {d.mean_latency_ms / 1000:.1f} s; "
            f"fixed facets stood in on {d.fallbacks} ({d.failed} failed)"
        )
    return lines
