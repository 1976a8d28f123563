"""An evaluation report in the terminal: the systems table, then whether to ensemble at all.

Each table keeps to 100 columns with the pool's usual names, so `orch eval` reads in a standard
terminal; the Markdown report (`orch.eval.markdown`) carries the same numbers with more words.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from orch.cli.render import console

if TYPE_CHECKING:
    from orch.eval.report import EvalReport

__all__ = ["agreement_table", "gate_table", "noninferiority_table", "oracle_table", "print_report", "report_table"]


def _pct(x: float, sign: bool = False) -> str:
    return "–" if math.isnan(x) else (f"{x:+.1%}" if sign else f"{x:.1%}")


def _p(p: float) -> str:
    return "–" if math.isnan(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """A compact table (a rule under the header, one space between columns): ten columns of numbers
    and a pool's agent names fit 100 columns; a name too long for its column wraps, never cut."""
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True
    )
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    return table


def report_table(report: EvalReport) -> Table:
    """One row per system, with its difference from the first target and McNemar's p (Holm)."""
    target = report.first_target
    vs = report.against_first_target()
    title = f"{report.benchmark} {report.sample} (seed {report.seed}): {report.n_items} items"
    columns = ("system", "accuracy", "95% CI", "invalid", "tokens", "calls", "p50 s", f"{target} −", "Holm p", "b/c")
    table = _table(title, columns)
    for r in report.rows:
        c = vs.get(r.name)
        flag = " ⚠" if c and c.flagged else ""
        table.add_row(
            r.name,
            _pct(r.accuracy.value),
            f"{_pct(r.accuracy.ci_low)}–{_pct(r.accuracy.ci_high)}",
            _pct(r.invalid.value),
            f"{r.tokens_per_item:.0f}",
            f"{r.calls_per_item:.1f}",
            f"{r.latency_p50_s:.1f}",
            f"{c.comparison.diff:+.1%}{flag}" if c else "",
            _p(c.comparison.p_holm) if c else "",
            f"{c.comparison.b}/{c.comparison.c}" if c else "",
        )
    return table


def noninferiority_table(report: EvalReport) -> Table:
    """Each target against the best single agent: Tango's one-sided test at the report's margin."""
    margin = f"{report.noninferiority_margin * 100:g}"
    title = f"Non-inferior to the best single agent at {margin} points? (Tango, α 2.5% one-sided)"
    table = _table(title, ("target", "best single", "Δ", "Δ 95% CI", "p", "Holm p", "non-inferior"))
    for r in report.noninferiority:
        table.add_row(
            r.target,
            r.baseline,
            _pct(r.test.diff, sign=True),
            f"{_pct(r.test.ci_low, sign=True)} to {_pct(r.test.ci_high, sign=True)}",
            _p(r.test.p_value),
            _p(r.p_holm),
            "yes" if r.non_inferior else "no",
        )
    return table


def oracle_table(report: EvalReport) -> Table:
    """Per graph with analysts: the panel oracle, the weighted oracle and its weights, the merge."""
    title = "Upper bounds on these items: an analyst right; the best fixed weights per agent (0–3)"
    table = _table(title, ("graph", "merge", "panel oracle", "weighted oracle", "weights"))
    for a in report.audits:
        weighted = a.weighted_oracle
        table.add_row(
            a.target,
            _pct(a.audit.final_correct / a.audit.n if a.audit.n else math.nan),
            _pct(a.oracle.value),
            _pct(weighted.value) if weighted else "–",
            " ".join(f"{agent}={w}" for agent, w in a.oracle_weights.items()) or "–",
        )
    return table


def gate_table(report: EvalReport) -> Table:
    """Per gated merge: the items the weighted panel decided alone, their accuracy, the tokens saved."""
    title = "Gated merge: the panel decided alone where it was decisive"
    table = _table(title, ("graph", "merge skipped", "panel right", "merged right", "tokens saved"))
    for g in report.gates:
        table.add_row(
            g.target,
            f"{g.panel_decided}/{g.items}",
            f"{g.panel_accuracy.k}/{g.panel_accuracy.n}",
            f"{g.merge_accuracy.k}/{g.merge_accuracy.n}",
            f"{g.tokens_saved:,.0f}",
        )
    return table


def agreement_table(report: EvalReport) -> Table:
    """Every pair of agents: how alike their mistakes are (single:* systems)."""
    table = _table("Agents' mistakes alike? (single:*)", ("agents", "items", "both wrong", "error corr.", "κ (95% CI)"))
    for a in report.agreement:
        kappa = "–" if math.isnan(a.kappa) else f"{a.kappa:+.2f}"
        if not math.isnan(a.kappa_ci_low):
            kappa += f" ({a.kappa_ci_low:+.2f} to {a.kappa_ci_high:+.2f})"
        corr = "–" if math.isnan(a.error_correlation) else f"{a.error_correlation:+.2f}"
        table.add_row(f"{a.agent_a} / {a.agent_b}", str(a.n), str(a.both_wrong), corr, kappa)
    return table


def print_report(report: EvalReport) -> None:
    """The systems table, the ensemble tables that have rows, and the verdict line."""
    console.print(report_table(report))
    for table, rows in (
        (noninferiority_table(report), report.noninferiority),
        (oracle_table(report), report.audits),
        (gate_table(report), report.gates),
        (agreement_table(report), report.agreement),
    ):
        if rows:
            console.print(table)
    console.print(f"[bold]verdict:[/] {report.verdict}")
