"""Reliability-weighted pooling of the panel's answers, as log-likelihood ratios against chance.

Each agent is read as a noisy witness with accuracy p over K options: its answer makes the option
it names p / (1/K) times as likely and each other option ((1 − p)/(K − 1)) / (1/K) times (the
symmetric confusion model behind log-odds weights). Scores add up over agents, so an agent at
chance (p = 1/K) adds nothing and a far better agent outweighs several weak ones: with one
informative member the pool reduces to that member. Accuracies are kept in [1/K, 0.99]: an agent
below chance is ignored, never followed in reverse, and none is trusted blindly.

With distributions, the agent's own probabilities replace the one-hot answer (its belief, spread
by its reliability), after its position prior is divided out when one is known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from orch.records import AgentOutput

__all__ = ["debiased", "pooled_scores", "witness_likelihoods"]

_MAX_ACCURACY = 0.99


def debiased(
    distribution: Mapping[str, float], prior: Sequence[float] | None, labels: Sequence[str]
) -> dict[str, float]:
    """`distribution` with the agent's position prior divided out, renormalised (unchanged without one)."""
    if prior is None or len(prior) != len(labels) or min(prior) <= 0:
        return {label: distribution.get(label, 0.0) for label in labels}
    raw = {label: distribution.get(label, 0.0) / prior[i] for i, label in enumerate(labels)}
    total = sum(raw.values())
    return {label: v / total for label, v in raw.items()} if total > 0 else dict(raw)


def witness_likelihoods(
    belief: Mapping[str, float], accuracy: float, labels: Sequence[str], k: int | None = None
) -> dict[str, float]:
    """P(the agent says what it says | option o is right) for each option, up to a constant; `k`
    options in all (more than `labels` for a numeric question, whose candidates are the answers given)."""
    k = k or len(labels)
    p = min(max(accuracy, 1.0 / k), _MAX_ACCURACY)
    miss = (1.0 - p) / (k - 1)
    return {o: p * belief.get(o, 0.0) + miss * (1.0 - belief.get(o, 0.0)) for o in labels}


def pooled_scores(
    outputs: Sequence[AgentOutput],
    accuracies: Mapping[str, float],
    labels: Sequence[str],
    *,
    use_distributions: bool = False,
    priors: Mapping[str, Sequence[float] | None] | None = None,
    k: int | None = None,
) -> dict[str, float]:
    """Per option, the summed log-likelihood ratio against chance over the outputs with an answer;
    `accuracies` and `priors` are keyed by witness (`AgentOutput.witness`)."""
    k = k or len(labels)
    scores = dict.fromkeys(labels, 0.0)
    for output in outputs:
        if output.answer is None or output.answer not in scores:
            continue
        belief: Mapping[str, float] = {output.answer: 1.0}
        if use_distributions and output.distribution:
            belief = debiased(output.distribution, (priors or {}).get(output.witness), labels)
        accuracy = accuracies.get(output.witness, 1.0 / k)
        for option, likelihood in witness_likelihoods(belief, accuracy, labels, k).items():
            scores[option] += math.log(likelihood * k)
    return {o: round(v, 6) for o, v in scores.items()}
