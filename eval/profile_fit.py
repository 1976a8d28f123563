"""Fitting a reliability profile from a finished evaluation (on a development split).

Per witness (an agent's analyses, or its direct answers as `<agent>/direct`): the accuracy of its
answers in the systems' results (analyses in `orch-merge`, direct answers in `single:<agent>` or
`vote`), and its position prior — the mean of its distributions over the options, per number of
options, which needs no gold label. Items the run failed, and answers with no gold, do not count;
the profile names the evaluations and systems it came from.
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
    """Each witness's accuracy and position priors over `results` (every analysis and direct answer)."""
    right: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    sums: dict[str, dict[int, list[float]]] = defaultdict(dict)
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for result in results:
        if result.status == "failed":
            continue
        letters = result.item.letters
        for output in result.analyses:
            if output.answer is None:
                continue
            witness = output.witness
            if result.item.answer is not None:
                answered[witness] += 1
                right[witness] += output.answer == result.item.answer
            if output.distribution and letters:  # position priors: multiple choice only
                k = len(letters)
                total = sums[witness].setdefault(k, [0.0] * k)
                for i, label in enumerate(letters):
                    total[i] += output.distribution.get(label, 0.0)
                counts[witness][k] += 1
    return {
        agent: AgentReliability(
            accuracy=round(right[agent] / answered[agent], 6) if answered[agent] else 0.0,
            answered=answered[agent],
            priors={k: [round(v / counts[agent][k], 6) for v in total] for k, total in sorted(sums[agent].items())},
        )
        for agent in sorted(set(answered) | set(sums))
    }


def fit_profile(name: str, run_ids: str | Sequence[str], systems: Sequence[str] = ("orch",)) -> ReliabilityProfile:
    """Write the next version of profile `name` from `systems` of the evaluations `run_ids` (each
    system in the first evaluation that has it); a witness measured twice keeps the first figures.

    Raises:
        OrchError: a run is not an evaluation, a system is in none of them, or nothing was answered.
    """
    runs = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    logged = [(run, {s.name: s for s in load_systems(run)}) for run in runs]
    agents: dict[str, AgentReliability] = {}
    sources, items, dataset = [], 0, ""
    for system in systems:
        found = next(((run, by_name[system]) for run, by_name in logged if system in by_name), None)
        if found is None:
            have = sorted({n for _, by_name in logged for n in by_name})
            raise OrchError(f"evaluation {', '.join(runs)} has no system {system!r}; it has {have}")
        run, logged_system = found
        results = list(logged_system.results)
        items, sources = max(items, len(results)), [*sources, f"{system}@{run}"]
        dataset = dataset or (results[0].item.id.split("/")[0] if results else "")
        for witness, reliability in reliabilities(results).items():
            agents.setdefault(witness, reliability)
    if not agents:
        raise OrchError(f"evaluation {', '.join(runs)}, systems {', '.join(systems)}: no answers to measure")
    source = {"evaluation": ",".join(runs), "system": ",".join(sources), "items": str(items), "dataset": dataset}
    return save_profile(name, source, dict(sorted(agents.items())))
