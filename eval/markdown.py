"""An evaluation report as Markdown: one function per section, in the order a reader wants them.

Rendering is kept apart from the numbers (`orch.eval.report`) so a logged report can be re-rendered,
and each section can change without touching the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orch.eval.markdown_ensemble import ensemble_section, oracle_weights
from orch.eval.markdown_ensemble import pct as _pct
from orch.eval.markdown_ensemble import pvalue as _p
from orch.eval.markdown_ensemble import share as _share
from orch.eval.markdown_ensemble import table as _table
from orch.eval.weighted_oracle import MAX_AGENTS

if TYPE_CHECKING:
    from orch.eval.report import EvalReport

__all__ = ["render_markdown"]


def render_markdown(report: EvalReport) -> str:
    """The report as Markdown: verdict and main table first, then comparisons, whether to ensemble
    at all, audits, categories and notes."""
    out = [
        *_heading(report),
        *_systems(report),
        *_comparisons(report),
        *ensemble_section(report),
        *_merge_audit(report),
        *_gates(report),
        *_per_category(report),
        *_notes(report),
    ]
    return "\n".join(out)


def _heading(report: EvalReport) -> list[str]:
    """Title and how to read the main table."""
    first_target = report.first_target
    return [
        f"# Evaluation: {report.benchmark}, sample {report.sample}, seed {report.seed}",
        "",
        f"{report.n_items} items (dataset sha256 `{report.dataset_sha256[:16]}…`). Accuracy with 95% Wilson CIs; "
        "p50/p95 s: model time per item (its calls summed; cached calls count their original time); "
        f"p: exact McNemar of {first_target or 'the target'} against each baseline, Holm-adjusted across all "
        "target × baseline comparisons.",
        "",
        f"**Should you ensemble at all?** {report.verdict}.",
        "",
    ]


def _systems(report: EvalReport) -> list[str]:
    """The main table: one row per system, with its difference from the first target."""
    first_target = report.first_target
    vs_target = report.against_first_target()
    main = []
    for r in report.rows:
        c = vs_target.get(r.name)
        vs = f"{c.comparison.diff:+.1%} (p={_p(c.comparison.p_holm)})" if c else ""
        main.append(
            [
                r.name,
                _pct(r.accuracy.value),
                f"{_pct(r.accuracy.ci_low)}–{_pct(r.accuracy.ci_high)}",
                _pct(r.invalid.value),
                f"{r.tokens_per_item:.0f}",
                f"{r.calls_per_item:.1f}",
                f"{r.latency_p50_s:.1f}/{r.latency_p95_s:.1f}",
                f"{r.cost_per_item:.5f}",
                vs,
            ]
        )
    header = [
        "system",
        "accuracy",
        "95% CI",
        "invalid",
        "tokens/item",
        "calls/item",
        "p50/p95 s",
        "cost/item $",
        f"{first_target} − system (Holm p)",
    ]
    return ["## Systems", "", *_table(header, main), ""]


def _comparisons(report: EvalReport) -> list[str]:
    """Every target against every baseline, with Holm-adjusted p-values and budget flags."""
    if not report.comparisons:
        return []
    rows = []
    for bc in report.comparisons:
        c = bc.comparison
        flag = "⚠ budget differs" if bc.flagged else ""
        rows.append(
            [
                c.target,
                c.baseline,
                f"{c.diff:+.1%}",
                f"{_pct(c.ci_low)} to {_pct(c.ci_high)}",
                str(c.b),
                str(c.c),
                _p(c.p_value),
                _p(c.p_holm),
                f"{bc.token_ratio:.2f}×",
                flag,
            ]
        )
    return [
        "## Comparisons",
        "",
        "b: items the target got right and the baseline wrong; c: the reverse. Δ CI: paired bootstrap "
        f"(10,000 resamples). ⚠: the target wins while spending a token budget more than "
        f"{report.budget_tolerance:.0%} away from the baseline's.",
        "",
        *_table(["target", "baseline", "Δ accuracy", "Δ 95% CI", "b", "c", "p", "p (Holm)", "tokens ratio", ""], rows),
        "",
    ]


def _merge_audit(report: EvalReport) -> list[str]:
    """For graphs with analysts: the panel oracle and what the merge rescued, spoiled or invented."""
    if not report.audits:
        return []
    rows = [
        [
            a.target,
            _share(a.oracle),
            _share(a.weighted_oracle) if a.weighted_oracle else "–",
            oracle_weights(a.oracle_weights),
            str(a.audit.majority_correct),
            str(a.audit.final_correct),
            str(a.audit.rescues),
            str(a.audit.spoils),
            str(a.audit.unanimous_overrides),
            str(a.audit.novel_answers),
        ]
        for a in report.audits
    ]
    return [
        "## Merge audit",
        "",
        "Panel oracle: an analyst was right (upper bound for any merge). Weighted oracle: the best accuracy "
        "of a vote with one fixed weight per agent (every weighting in 0–3 tried on these items, so in-sample "
        f"and optimistic: an upper bound for reliability-weighted decisions; – above {MAX_AGENTS} agents), with its "
        "weights. Rescue: merge right while the panel's strict majority was not; spoil: the reverse. "
        "Override: a unanimous panel (≥2) was overruled. Novel: the merge chose an answer no analyst proposed.",
        "",
        *_table(
            [
                "target",
                "panel oracle",
                "weighted oracle",
                "oracle weights",
                "majority right",
                "merge right",
                "rescues",
                "spoils",
                "unanimous overrides",
                "novel answers",
            ],
            rows,
        ),
        "",
    ]


def _gates(report: EvalReport) -> list[str]:
    """For gated merges: the items the weighted panel decided alone and the merge calls saved."""
    if not report.gates:
        return []
    rows = [
        [
            g.target,
            f"{g.panel_decided}/{g.items} ({_pct(g.skipped_share)})",
            _share(g.panel_accuracy),
            _share(g.merge_accuracy),
            f"{g.tokens_per_merge:,.0f}",
            f"{g.tokens_saved:,.0f}",
        ]
        for g in report.gates
    ]
    return [
        "## Gated merge",
        "",
        "Items the weighted panel decided alone (its margin reached the merge's `gate_margin`, so no merge call "
        "was made), the accuracy on those and on the items that went to the merger, and the merge tokens not "
        "spent (skipped calls × the mean merge call). For the gate's accuracy cost, evaluate the same graph "
        "without a gate beside it and compare the two with `--baselines` (exact McNemar).",
        "",
        *_table(["target", "merge skipped", "panel right", "merged right", "tokens / merge", "tokens saved"], rows),
        "",
    ]


def _per_category(report: EvalReport) -> list[str]:
    """Right/items per category and system, when there is more than one category."""
    categories = sorted({c for per in report.per_category.values() for c in per})
    if len(categories) <= 1:
        return []
    rows = [
        [name, *(f"{report.per_category[name][c].k}/{report.per_category[name][c].n}" for c in categories)]
        for name in report.per_category
    ]
    return ["## Per category (right/items)", "", *_table(["system", *categories], rows), ""]


def _notes(report: EvalReport) -> list[str]:
    """The run's notes (dataset warnings, how a system was run), one bullet each."""
    if not report.notes:
        return []
    return ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
