"""What a disagreement-gated merge saved: the items the weighted panel decided alone, the merge
calls and tokens that were not spent, and how accurate each side was.

The accuracy cost of the gate is a paired question (the same items, gated or not): evaluate the
ungated graph beside the gated one and compare them with `--baselines`, which gives exact McNemar.
"""

from __future__ import annotations

from collections.abc import Sequence

from orch.eval.proportions import Frozen, Proportion, proportion_of
from orch.records import ItemResult

__all__ = ["GateSummary", "gate_summary"]


class GateSummary(Frozen):
    target: str
    items: int
    panel_decided: int
    """Items whose merge did not run: the weighted panel was decisive."""
    merged: int
    """Items the merger decided (or tried to: fallbacks count)."""
    panel_accuracy: Proportion
    """Accuracy on the items the panel decided alone."""
    merge_accuracy: Proportion
    """Accuracy on the items that went to the merger."""
    tokens_per_merge: float
    """Mean tokens of one merge call, on the items that had one."""
    tokens_saved: float
    """Estimated: the skipped calls × `tokens_per_merge`."""

    @property
    def skipped_share(self) -> float:
        return self.panel_decided / self.items if self.items else 0.0


def gate_summary(target: str, results: Sequence[ItemResult]) -> GateSummary | None:
    """For a graph whose merge is gated (some decision says it skipped the merge), else None."""
    decided = [r for r in results if r.status != "failed"]
    gated = [r for r in decided if r.decision.gated]
    if not gated:
        return None
    merged = [r for r in decided if r.decision.method.startswith("merge")]
    merge_tokens = [r.decision.usage.input_tokens + r.decision.usage.output_tokens for r in merged]
    per_call = sum(merge_tokens) / len(merge_tokens) if merge_tokens else 0.0
    return GateSummary(
        target=target,
        items=len(decided),
        panel_decided=len(gated),
        merged=len(merged),
        panel_accuracy=proportion_of(sum(bool(r.correct) for r in gated), len(gated)),
        merge_accuracy=proportion_of(sum(bool(r.correct) for r in merged), len(merged)),
        tokens_per_merge=round(per_call, 1),
        tokens_saved=round(per_call * len(gated), 1),
    )
