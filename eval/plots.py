"""Figures of an evaluation report, for MLflow: accuracy with CIs, cost against accuracy, and
accuracy per category. Built from the report alone, so they can be redrawn from logged data."""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from orch.eval.report import EvalReport

__all__ = ["accuracy_figure", "category_figure", "cost_figure", "figures"]

_BASELINE, _TARGET = "#9e9ac8", "#6b5fd3"


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    # Figure objects without pyplot: no GUI backend, no global figure registry to leak into.
    fig = Figure(figsize=size)
    return fig, fig.subplots()


def accuracy_figure(report: EvalReport) -> Figure:
    rows = report.rows
    fig, ax = _figure((max(5.0, 0.9 * len(rows) + 2), 4))
    values = [r.accuracy.value for r in rows]
    errors = [
        [max(0.0, r.accuracy.value - r.accuracy.ci_low) for r in rows],
        [max(0.0, r.accuracy.ci_high - r.accuracy.value) for r in rows],
    ]
    ax.bar(range(len(rows)), values, yerr=errors, capsize=4, color=[_BASELINE if r.baseline else _TARGET for r in rows])
    ax.set_xticks(range(len(rows)), [r.name for r in rows], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Wilson CI)")
    ax.set_title(f"{report.benchmark} {report.sample}: {report.n_items} items")
    fig.tight_layout()
    return fig


def cost_figure(report: EvalReport) -> Figure:
    """Tokens per item against accuracy: local models cost no money, so tokens are the budget."""
    fig, ax = _figure((6, 4.5))
    for r in report.rows:
        ax.errorbar(
            r.tokens_per_item,
            r.accuracy.value,
            yerr=[[max(0.0, r.accuracy.value - r.accuracy.ci_low)], [max(0.0, r.accuracy.ci_high - r.accuracy.value)]],
            fmt="o",
            color=_BASELINE if r.baseline else _TARGET,
            capsize=3,
        )
        ax.annotate(
            r.name, (r.tokens_per_item, r.accuracy.value), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    if all(r.tokens_per_item > 0 for r in report.rows):
        ax.set_xscale("log")
    ax.set_xlabel("tokens per item (prompt + completion)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("cost vs accuracy")
    fig.tight_layout()
    return fig


def category_figure(report: EvalReport) -> Figure:
    names = list(report.per_category)
    categories = sorted({c for per in report.per_category.values() for c in per})
    grid = [
        [report.per_category[n].get(c).value if c in report.per_category[n] else math.nan for c in categories]
        for n in names
    ]
    fig, ax = _figure((max(5.0, 0.6 * len(categories) + 3), max(3.0, 0.45 * len(names) + 1.5)))
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(categories)), categories, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(
                    j,
                    i,
                    f"{value:.0%}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value < 0.6 else "black",
                )
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_title("accuracy per category")
    fig.tight_layout()
    return fig


def figures(report: EvalReport) -> dict[str, Figure]:
    """Artifact file name → figure."""
    out = {"plots/accuracy.png": accuracy_figure(report), "plots/cost_vs_accuracy.png": cost_figure(report)}
    if len({c for per in report.per_category.values() for c in per}) > 1:
        out["plots/accuracy_per_category.png"] = category_figure(report)
    return out
