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
Holm, bootstrap), `orch.eval.summaries` (panel and merge audit, latency, cost, categories, budget,
invalid answers), `orch.eval.noninferiority` (Tango's paired non-inferiority test), `orch.eval.agreement`
(κ and error correlation of agents) and `orch.eval.weighted_oracle`; this module gathers them under one name.
"""

from __future__ import annotations

from orch.eval.agreement import AgentAgreement, cohen_kappa, error_correlation, pairwise_agreement
from orch.eval.noninferiority import NonInferiority, TangoTest, noninferiority_all, tango_ci, tango_test
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
from orch.eval.weighted_oracle import WeightedOracle, weighted_oracle

__all__ = [
    "UNCATEGORIZED",
    "AgentAgreement",
    "Comparison",
    "McNemar",
    "MergeAudit",
    "NonInferiority",
    "Proportion",
    "TangoTest",
    "WeightedOracle",
    "accuracy",
    "budget_flag",
    "cohen_kappa",
    "compare_all",
    "cost_summary",
    "error_correlation",
    "holm",
    "invalid_rate",
    "latency_summary",
    "mcnemar_exact",
    "merge_audit",
    "noninferiority_all",
    "paired_bootstrap_diff_ci",
    "pairwise_agreement",
    "panel_oracle",
    "per_category_accuracy",
    "tango_ci",
    "tango_test",
    "weighted_oracle",
    "wilson_ci",
]
