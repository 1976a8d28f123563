"""Paired statistics for comparing systems (single models, majority vote, ORCH) on the same items.

Every system answers the same items, so comparisons are *paired*: McNemar's exact test on the
discordant items and a bootstrap that resamples items (not systems) keep the item-difficulty
correlation out of the error bars. All functions are pure; inputs are per-item arrays in item
order, outputs are small frozen models or plain dicts that serialise straight into reports.

Answer conventions: an answer is a string compared to gold by exact equality (normalisation is the
extractor's job), and `None` means invalid / unparseable, which is never right. Panel inputs are
*item-major*: `analyst_answers[i]` holds the answers of every analyst for item `i`, so the panel may
differ in size from item to item (e.g. an analyst that failed on one item is simply absent).

The functions live in `orch.eval.proportions` (Wilson intervals), `orch.eval.paired_tests` (McNemar,
Holm, bootstrap) and `orch.eval.summaries` (panel and merge audit, latency, cost, categories, budget,
invalid answers); this module gathers them under one name.
"""

from __future__ import annotations

from orch.eval.paired_tests import (
    Comparison,
    McNemar,
    compare_all,
    holm,
    mcnemar_exact,
    paired_bootstrap_diff_ci,
)
from orch.eval.proportions import Proportion, accuracy, wilson_ci
from orch.eval.summaries import (
    UNCATEGORIZED,
    MergeAudit,
    budget_flag,
    cost_summary,
    invalid_rate,
    latency_summary,
    merge_audit,
    panel_oracle,
    per_category_accuracy,
)

__all__ = [
    "UNCATEGORIZED",
    "Comparison",
    "McNemar",
    "MergeAudit",
    "Proportion",
    "accuracy",
    "budget_flag",
    "compare_all",
    "cost_summary",
    "holm",
    "invalid_rate",
    "latency_summary",
    "mcnemar_exact",
    "merge_audit",
    "paired_bootstrap_diff_ci",
    "panel_oracle",
    "per_category_accuracy",
    "wilson_ci",
]
