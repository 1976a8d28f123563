"""Fitting a reliability profile from a finished evaluation (on a development split).

Per agent: the accuracy of its answers in one system's results (its analyses in `orch`, its
direct answers in `single:<agent>` or `vote`), and its position prior — the mean of its
distributions over the options, per number of options, which needs no gold label. Items the run
failed, and answers with no gold, do not count; the profile names the evaluation it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from orch.errors import OrchError
from orch.eval.logged import load_systems
from orch.nodes.profiles import AgentReliability, ReliabilityProfile, save_profile
from orch.records import ItemResult

__all__ = ["fit_profile", "reliabilities"]


def reliabilities(results: Sequence[ItemResult]) -> dict[str, AgentReliability]:
    """Each agent's accuracy and position priors over `results` (every analysis and direct answer)."""
    right: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    sums: dict[str, dict[int, list[float]]] = defaultdict(dict)
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for result in results:
        if result.status == "failed" or result.item.kind != "choice":
            continue
        letters = result.item.letters
        for output in result.analyses:
            if output.answer is None:
                continue
            if result.item.answer is not None:
                answered[output.agent] += 1
                right[output.agent] += output.answer == result.item.answer
            if output.distribution:
                k = len(letters)
                total = sums[output.agent].setdefault(k, [0.0] * k)
                for i, label in enumerate(letters):
                    total[i] += output.distribution.get(label, 0.0)
                counts[output.agent][k] += 1
    return {
        agent: AgentReliability(
            accuracy=round(right[agent] / answered[agent], 6) if answered[agent] else 0.0,
            answered=answered[agent],
            priors={k: [round(v / counts[agent][k], 6) for v in total] for k, total in sorted(sums[agent].items())},
        )
        for agent in sorted(set(answered) | set(sums))
    }


def fit_profile(name: str, run_id: str, system: str = "orch") -> ReliabilityProfile:
    """Write the next version of profile `name` from system `system` of the evaluation `run_id`.

    Raises:
        OrchError: the run is not an evaluation, has no such system, or it answered nothing.
    """
    systems = {s.name: s for s in load_systems(run_id)}
    if system not in systems:
        raise OrchError(f"evaluation {run_id} has no system {system!r}; it has {sorted(systems)}")
    results = list(systems[system].results)
    agents = reliabilities(results)
    if not agents:
        raise OrchError(f"evaluation {run_id}, system {system!r}: no answers to measure")
    items = results[0].item.id.split("/")[0] if results else ""
    source = {"evaluation": run_id, "system": system, "items": str(len(results)), "dataset": items}
    return save_profile(name, source, agents)
