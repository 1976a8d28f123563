"""What the parent run of an evaluation holds: the plan's params and manifest, then the report,
its plots, and a summary the MLflow runs table shows without opening an artifact (each system's
accuracy and each target's non-inferiority p-value, the best system and the verdict as tags)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from orch.eval.plan import EvalPlan
from orch.eval.plots import figures
from orch.eval.report import EvalReport, SystemResults, build_report, render_markdown
from orch.nodes.prompts import PROMPT_VERSION
from orch.tracking import Tracker

__all__ = ["finish_parent", "log_parent_params", "parent_experiment", "summary_metrics"]


def parent_experiment(tracker: Tracker, plan: EvalPlan) -> str:
    return tracker.experiment_name("eval", plan.dataset.name)


def log_parent_params(tracker: Tracker, plan: EvalPlan) -> None:
    manifest = plan.sample.manifest()
    request = plan.request
    tracker.log_params(
        {
            "benchmark": plan.dataset.name,
            "dataset_sha256": plan.dataset.sha256,
            "sample": plan.sample.preset,
            "sample_options": plan.sample.options or "",
            "seed": request.seed,
            "n_items": len(plan.sample),
            "item_ids_sha256": manifest["item_ids_sha256"],
            "systems": ",".join(plan.names),
            "baselines": ",".join(s.name for s in plan.systems if s.baseline),
            "budget_tolerance": request.budget_tolerance,
            "noninferiority_margin": request.noninferiority_margin,
            "pool_source": plan.pool_source,
            "pool_hash": plan.pool_hash,
            "prompt_version": PROMPT_VERSION,
            "exclude_sample": request.exclude_sample or "",
            **{f"agent.{a.id}": a.model for a in plan.pool_config.agents},
        }
    )
    tracker.log_text(json.dumps(manifest, indent=2), "manifest.json")


def summary_metrics(report: EvalReport) -> tuple[dict[str, float], str | None]:
    """`accuracy.<system>` for every system, `noninferiority_p.<target>` (Holm-adjusted, against the
    best single agent) for every target, and the most accurate system (ties: the first listed)."""
    metrics = {f"accuracy.{row.name}": row.accuracy.value for row in report.rows}
    metrics |= {f"noninferiority_p.{t.target}": t.p_holm for t in report.noninferiority}
    best = max(report.rows, key=lambda row: row.accuracy.value, default=None)
    return metrics, best.name if best is not None else None


def finish_parent(
    tracker: Tracker,
    plan: EvalPlan,
    systems: Sequence[SystemResults],
    notes: Sequence[str],
    calls: int,
    cache_hits: int,
) -> tuple[EvalReport, str]:
    """Build the report, log it with its plots and the summary, and return it with its Markdown."""
    report = build_report(
        systems,
        benchmark=plan.dataset.name,
        sample=plan.sample.preset,
        seed=plan.request.seed,
        dataset_sha256=plan.dataset.sha256,
        budget_tolerance=plan.request.budget_tolerance,
        noninferiority_margin=plan.request.noninferiority_margin,
        notes=notes,
    )
    markdown = render_markdown(report)
    tracker.log_text(markdown, "report.md")
    tracker.log_text(report.model_dump_json(indent=2), "report.json")
    for name, figure in figures(report).items():
        tracker.log_figure(figure, name)
    metrics, best = summary_metrics(report)
    tracker.log_metrics({**metrics, "calls_made": calls, "cache_hits": cache_hits, "items": len(plan.sample)})
    tags = {"orch.verdict": report.verdict}  # the runs table shows it without opening report.md
    if best is not None:
        tags["orch.best_system"] = best
    tracker.set_tags(tags)
    return report, markdown
