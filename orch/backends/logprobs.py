"""Reading option labels' log-probabilities from a chat completion's `logprobs.content`.

An OpenAI-compatible endpoint asked for `logprobs` and `top_logprobs` returns, per generated
token, its alternatives and their log-probabilities (llama.cpp reports the model's own
distribution, before the grammar constrains it, which is what a decision wants to weigh). Only the
positions where the model wrote one of the item's option labels are kept, so a cached call stays
small: one label position per answer instead of ten alternatives for every token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from orch.records import LabelLogprobs

__all__ = ["TOP_LOGPROBS", "label_positions"]

TOP_LOGPROBS = 10
"""Alternatives asked for per token: enough for every label of a ten-option item to show up."""
_BEFORE_CHARS = 40


def _label(token: str, labels: Sequence[str]) -> str | None:
    """The label a token writes: `B`, ` B` and `"B` all write B."""
    stripped = token.strip().lstrip('"').strip()
    return stripped if stripped in labels else None


def _alternatives(entry: dict[str, Any], labels: Sequence[str]) -> dict[str, float]:
    """Each label's log-probability at this position, its token variants summed (log-sum-exp)."""
    found: dict[str, list[float]] = {}
    for alternative in entry.get("top_logprobs") or []:
        label = _label(str(alternative.get("token", "")), labels)
        logprob = alternative.get("logprob")
        if label is not None and isinstance(logprob, int | float) and math.isfinite(logprob):
            found.setdefault(label, []).append(float(logprob))
    return {label: math.log(sum(math.exp(v) for v in values)) for label, values in sorted(found.items())}


def label_positions(choice: dict[str, Any], labels: Sequence[str]) -> list[LabelLogprobs] | None:
    """The label positions of one `choices[i]` entry, or None when it carries no token logprobs."""
    content = (choice.get("logprobs") or {}).get("content")
    if not isinstance(content, list) or not content:
        return None
    positions, text = [], ""
    for entry in content:
        if not isinstance(entry, dict):
            return None
        token = str(entry.get("token", ""))
        if _label(token, labels) is not None and (alternatives := _alternatives(entry, labels)):
            positions.append(LabelLogprobs(before=text[-_BEFORE_CHARS:], logprobs=alternatives))
        text += token
    return positions
