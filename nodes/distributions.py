"""An agent's distribution over the options, read from its answer token's log-probabilities.

A letter alone says which option an agent picked; the probabilities say how sure it was and how
the rest of its belief is spread, which a reliability-weighted decision can use and a position
bias can be removed from. The distribution is read at the position that writes the answer field
(`"answer": "B"`), or at the only label of a bare reply, and renormalised over the item's labels.
"""

from __future__ import annotations

import math
import re

from orch.items import Item
from orch.records import Completion

__all__ = ["answer_distribution"]

_ANSWER_FIELD = re.compile(r'"answer"\s*:\s*"?\s*$')


def answer_distribution(completion: Completion, item: Item) -> dict[str, float] | None:
    """The probability of each option label where the reply wrote its answer (labels the endpoint
    did not list among its top alternatives get 0); None without log-probabilities there."""
    positions = completion.label_logprobs
    if item.kind != "choice" or not positions:
        return None
    chosen = next((p for p in positions if _ANSWER_FIELD.search(p.before)), None)
    if chosen is None and len(positions) == 1 and completion.text.strip().strip('"') in item.letters:
        chosen = positions[0]
    if chosen is None:
        return None
    mass = {label: math.exp(chosen.logprobs[label]) for label in item.letters if label in chosen.logprobs}
    total = sum(mass.values())
    if total <= 0:
        return None
    return {label: round(mass.get(label, 0.0) / total, 6) for label in item.letters}
