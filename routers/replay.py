"""Off-policy replay: other router settings on a logged evaluation, with no model calls.

An evaluation logged every agent's outcome on every item: each analyst's answer, latency and
cost in a graph such as `orch` (the signals a live ORCH router learns from), and each agent's
direct answer in its `single:*` system. Replaying walks the items in the evaluation's order,
routes each with a setting's policy on the state its feedback allows (prequential, as live), and
scores what that routing would have picked from the logged outcomes: the merger's own answer,
the panel's majority vote and the panel oracle. Feedback follows the setting: every agent
(`direct`) or the panel and the probe (`answers`). What a merge would have made of a different panel is
not logged, so it is not claimed.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from orch.errors import OrchError
from orch.items import Item
from orch.records import AgentOutput, ItemResult, Observation, RoutingDecision
from orch.routers.policy import PRESETS, RouterPolicy
from orch.routers.ranking import decide
from orch.routers.state import RouterState, apply

__all__ = ["DEFAULT_SETTINGS", "AgentLog", "ReplayResult", "policy_for", "replay", "replay_log"]

DEFAULT_SETTINGS: dict[str, dict] = {
    "paper": {},
    "paper-exact": {"preset": "paper-exact"},
    "orch": {"preset": "orch"},
    "alpha=0.05": {"ema": {"alpha": 0.05}},
    "alpha=0.5": {"ema": {"alpha": 0.5}},
    "k=1": {"k": 1},
    "k=2": {"k": 2},
    "accuracy-only": {"weights": {"latency": 0.0, "cost": 0.0, "stability": 0.0}},
    "lexicographic": {"ranking": "lexicographic"},
    "per-category": {"ema": {"per_category": True, "min_category_n": 3}},
    "bias-corrected": {"ema": {"bias_correction": True}},
    "bandit-feedback": {"feedback": "answers"},
    "bandit+probe": {"feedback": "answers", "k": 2, "probe_every": 5},
    "relative-latency": {"weights": {"latency_reference": "pool_max", "cost_reference": "pool_max"}},
    "merger-accuracy": {"merger": "accuracy"},
    "exact-lexicographic": {
        "ema": {"init": "first_observation"},
        "ranking": "lexicographic",
        "precision": 0.0,
        "order": ["accuracy", "latency_ms", "cost", "stability"],
    },
}
"""Named settings compared by default; each is a patch of the `paper` preset with feedback `direct`
(`paper-direct`), or of the preset it names as `preset`."""


class AgentLog(BaseModel):
    """One agent's logged outcome on one item."""

    answer: str | None
    latency_ms: float
    cost: float
    ok: bool


class ReplayResult(BaseModel):
    setting: str
    policy: RouterPolicy
    items: int
    merger_accuracy: float
    """The routed merger's own answer was right."""
    vote_accuracy: float
    """The routed panel's majority vote (ties to the higher-ranked agent) was right."""
    oracle_accuracy: float
    panel_latency_ms: float
    """Mean summed latency of the panel's calls per item."""
    merger_counts: dict[str, int]
    decisions: list[RoutingDecision]
    states: list[RouterState]


def replay_log(
    systems: dict[str, list[ItemResult]], source: str = "auto"
) -> tuple[list[Item], dict[str, list[AgentLog]], str]:
    """Per agent, its logged outcome on each item, and where it came from.

    `source` is a system name whose analyses cover every agent on every item (e.g. `orch`: the answers,
    latencies and costs a live ORCH router learns from), `single` for the `single:<agent>` systems'
    direct answers, or `auto`: the first graph system with analyses from every agent, else `single`.
    """
    if source == "auto":
        source = next(
            (
                name
                for name, results in systems.items()
                if not name.startswith(("single:", "cot:", "sc:")) and _covers_all(results)
            ),
            "single",
        )
    if source == "single":
        return (*_from_singles(systems), "single:* direct answers")
    if source not in systems:
        raise OrchError(f"replay source {source!r} is not among the evaluation's systems {sorted(systems)}")
    results = systems[source]
    agents = sorted({a.agent for r in results for a in r.analyses if a.kind == "analysis"})
    if not agents or not _covers_all(results):
        raise OrchError(f"system {source!r} does not log an analysis of every agent on every item")
    log = {
        agent: [_agent_log([a for a in r.analyses if a.agent == agent and a.kind == "analysis"]) for r in results]
        for agent in agents
    }
    return [r.item for r in results], log, f"{source} analyses"


def _covers_all(results: list[ItemResult]) -> bool:
    per_item = [{a.agent for a in r.analyses if a.kind == "analysis"} for r in results]
    return bool(per_item) and bool(per_item[0]) and all(agents == per_item[0] for agents in per_item)


def _agent_log(outputs: Sequence[AgentOutput]) -> AgentLog:
    first = outputs[0]  # several facets of one agent: its first analysis answers for it
    return AgentLog(
        answer=first.answer,
        latency_ms=sum(o.usage.latency_ms for o in outputs),
        cost=sum(o.usage.cost for o in outputs),
        ok=all(o.path != "error" for o in outputs),
    )


def _from_singles(systems: dict[str, list[ItemResult]]) -> tuple[list[Item], dict[str, list[AgentLog]]]:
    singles = {name.removeprefix("single:"): results for name, results in systems.items() if name.startswith("single:")}
    if not singles:
        raise OrchError("replay needs per-agent outcomes: a graph with every agent's analyses, or single:* systems")
    items = [r.item for r in next(iter(singles.values()))]
    log: dict[str, list[AgentLog]] = {}
    for agent, results in singles.items():
        if [r.item.id for r in results] != [i.id for i in items]:
            raise OrchError(f"single:{agent} was not run on the same items")
        log[agent] = [_agent_log(r.analyses) for r in results]
    return items, log


def _vote(panel: Sequence[str], answers: dict[str, str | None]) -> str | None:
    votes: dict[str, int] = {}
    for agent in panel:
        if answers[agent] is not None:
            votes[answers[agent]] = votes.get(answers[agent], 0) + 1  # type: ignore[index]
    if not votes:
        return None
    best = max(votes.values())
    return next(answers[a] for a in panel if answers[a] is not None and votes[answers[a]] == best)  # type: ignore[index]


def replay(setting: str, policy: RouterPolicy, items: Sequence[Item], log: dict[str, list[AgentLog]]) -> ReplayResult:
    agents = sorted(log)
    states = [RouterState.fresh(policy)]
    decisions: list[RoutingDecision] = []
    merger_right = vote_right = oracle_right = 0
    latency = 0.0
    mergers: dict[str, int] = {}
    for i, item in enumerate(items):
        decision = decide(states[max(0, i - policy.window)], policy, agents, item.category, index=i)
        decisions.append(decision)
        answers = {a: log[a][i].answer for a in agents}
        gold = item.answer
        merger_right += answers[decision.merger] == gold
        vote_right += _vote(decision.panel, answers) == gold
        oracle_right += any(answers[a] == gold for a in decision.panel)
        latency += sum(log[a][i].latency_ms for a in decision.panel)
        mergers[decision.merger] = mergers.get(decision.merger, 0) + 1
        observed = agents if policy.feedback == "direct" else [*decision.panel, *decision.probe]
        observations = [
            Observation(
                agent=a,
                item_id=item.id,
                category=item.category,
                correct=None if gold is None else float(answers[a] == gold),
                latency_ms=log[a][i].latency_ms,
                cost=log[a][i].cost,
                ok=log[a][i].ok,
            )
            for a in sorted(observed)
        ]
        states.append(apply(states[-1], observations, policy))
    n = max(len(items), 1)
    return ReplayResult(
        setting=setting,
        policy=policy,
        items=len(items),
        merger_accuracy=merger_right / n,
        vote_accuracy=vote_right / n,
        oracle_accuracy=oracle_right / n,
        panel_latency_ms=latency / n,
        merger_counts=dict(sorted(mergers.items())),
        decisions=decisions,
        states=states[1:],
    )


def policy_for(patch: dict) -> RouterPolicy:
    """The `paper-direct` preset (or the one the patch names as `preset`) with `patch` merged into it
    (nested keys merge)."""

    def merge(base: dict, extra: dict) -> dict:
        return {
            k: merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
            for k, v in {**base, **extra}.items()
        }

    patch = dict(patch)
    name = patch.pop("preset", "paper-direct")
    if name not in PRESETS:
        raise OrchError(f"replay setting names preset {name!r}; presets: {sorted(PRESETS)}")
    return RouterPolicy.model_validate(merge(PRESETS[name].model_dump(), patch))
