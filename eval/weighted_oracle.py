"""The weighted-oracle bound: how far any fixed weighting of the agents' votes could take a panel.

The panel oracle (an analyst was right) bounds every merge, but no decision rule reaches it: it
knows which analyst to believe on each item. A reliability-weighted decision gives each agent one
weight for all items. The best such weighting, searched exhaustively on the evaluated items,
bounds what weighting alone could buy, and sits between the plain majority and the panel oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
from numpy.typing import NDArray

from orch.eval.proportions import Frozen, Proportion, proportion_of

__all__ = ["MAX_AGENTS", "WEIGHT_GRID", "WeightedOracle", "weighted_oracle"]

WEIGHT_GRID = (0, 1, 2, 3)
"""Integer weights per agent: 0 silences it, 3 lets it outvote two weight-1 agents that agree."""

MAX_AGENTS = 6
"""Above this the exhaustive search (4^m − 1 weight vectors: 4095 at six agents, a fraction of a
second on 300 items; 65535 at eight, seconds) is not run and the bound is not given."""

_CELLS = 2_000_000  # weight vectors × items × answers scored per numpy step: bounds memory


class WeightedOracle(Frozen):
    """The best fixed weighting's accuracy on these items, and the weights (agent → weight)."""

    accuracy: Proportion
    weights: dict[str, int]


def _encode(
    votes: Sequence[Sequence[tuple[str, str | None]]], gold: Sequence[str], agents: list[str]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Votes as counts[item, agent, answer slot] over each item's distinct valid answers, and the
    slot of the gold answer per item (−1: no analyst proposed it)."""
    column = {a: j for j, a in enumerate(agents)}
    answers = [list(dict.fromkeys(a for _, a in item if a is not None)) for item in votes]
    counts = np.zeros((len(votes), len(agents), max([1, *map(len, answers)])), dtype=np.int64)
    for i, (item, distinct) in enumerate(zip(votes, answers, strict=True)):
        for agent, answer in item:
            if answer is not None:
                counts[i, column[agent], distinct.index(answer)] += 1
    gold_slot = np.array([d.index(g) if g in d else -1 for d, g in zip(answers, gold, strict=True)], dtype=np.int64)
    return counts, gold_slot


def _weight_vectors(m: int) -> NDArray[np.int64]:
    """Every non-zero vector of `WEIGHT_GRID`^m, simplest first: by total weight, then favouring the
    agents listed first (so a tie between two lone agents goes to the first)."""
    grid = np.array([w for w in product(WEIGHT_GRID, repeat=m) if any(w)], dtype=np.int64).reshape(-1, m)
    order = np.lexsort((*(-grid.T[::-1]), grid.sum(axis=1)))
    return grid[order]


def _right_per_weighting(counts: NDArray[np.int64], gold_slot: NDArray[np.int64], weights: NDArray[np.int64]):
    """Items decided correctly by each weight vector: gold's weighted votes positive and strictly
    above every other answer's."""
    n = counts.shape[0]
    scores = np.einsum("iak,wa->wik", counts, weights)
    items = np.arange(n)
    has_gold = gold_slot >= 0
    gold_score = np.where(has_gold, scores[:, items, np.maximum(gold_slot, 0)], 0)
    others = scores.copy()
    others[:, items[has_gold], gold_slot[has_gold]] = -1
    return ((gold_score > 0) & (gold_score > others.max(axis=2)) & has_gold).sum(axis=1)


def weighted_oracle(
    votes: Sequence[Sequence[tuple[str, str | None]]], gold: Sequence[str], alpha: float = 0.05
) -> WeightedOracle | None:
    """Best accuracy of a weighted vote with one fixed weight per agent, over the weight grid.

    Definition. Per item, every analysis casts its agent's weight for its (valid) answer; the
    decision is the answer whose summed weight is positive and strictly greater than every other
    answer's (a tie, or no weighted vote, decides nothing and counts as wrong, as the merge audit's
    majority does). The bound is the maximum accuracy of that rule over every non-zero weight vector
    in {0, 1, 2, 3}^m (m = agents seen in the panels; an agent absent from an item casts nothing;
    an agent writing several analyses casts its weight for each). Ties between weightings go to the
    simplest (least total weight, then the most weight on the agents seen first).

    What it means. All-ones weights are the panel's majority and a single non-zero weight is that
    agent alone, so the bound is at least the better of the two; it never exceeds the panel oracle.
    The weights are chosen on the very items they score, so the bound is optimistic (in-sample):
    it says how much a reliability-weighted decision could gain at best, not what a weighting fitted
    elsewhere will reach. None when no analyst answered or more than `MAX_AGENTS` agents took part.
    """
    if len(votes) != len(gold):
        raise ValueError(f"inputs must have equal length, got {len(votes)} votes and {len(gold)} gold answers")
    agents = list(dict.fromkeys(agent for item in votes for agent, _ in item))
    if not agents or len(agents) > MAX_AGENTS:
        return None
    counts, gold_slot = _encode(votes, gold, agents)
    weights = _weight_vectors(len(agents))
    step = max(1, _CELLS // (counts.shape[0] * counts.shape[2] or 1))
    right = np.concatenate(
        [_right_per_weighting(counts, gold_slot, weights[s : s + step]) for s in range(0, len(weights), step)]
    )
    best = int(np.argmax(right))  # first maximum: the simplest weighting
    return WeightedOracle(
        accuracy=proportion_of(int(right[best]), len(votes), alpha),
        weights={agent: int(w) for agent, w in zip(agents, weights[best], strict=True)},
    )
