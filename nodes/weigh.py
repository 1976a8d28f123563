"""`weigh`: a deterministic decision from the panel's answers, weighted by measured reliability.

The weights are each agent's accuracy on a development split (a reliability profile), or the
router's EMA accuracy for this item (a routed graph), or equal (a soft majority vote); see
`orch.nodes.weighting` for the pooling rule. The decision carries its margin (the winner's score
minus the runner-up's, in nats), so a following `merge` with `gate_margin` runs only when the
weighted panel is not decisive.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from orch.errors import ConfigError
from orch.items import Item
from orch.nodes.base import Node, NodeConfig, context_of
from orch.nodes.context import RunContext
from orch.nodes.profiles import ReliabilityProfile, load_profile
from orch.nodes.state import analyses_of, item_of
from orch.nodes.tally import break_tie
from orch.nodes.weighting import pooled_scores
from orch.records import Decision

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Weigh", "WeighConfig"]

_EQUAL_ACCURACY = 0.6
"""What `weights: equal` assumes of every agent: any value above chance gives a majority vote."""


class WeighConfig(NodeConfig):
    weights: Literal["profile", "router", "equal"] = "profile"
    """Where each agent's accuracy comes from: a reliability profile, the router's EMAs, or equal."""
    profile: str | None = None
    """The profile for `weights: profile`: a name (its newest version), `name@vN`, or a file path."""
    by_source: dict[str, str] = Field(default_factory=dict)
    """Profiles for items of other sources (`{mmlu-pro: mmlu-pro-dev}`): reliability differs by benchmark."""
    numeric_options: int = Field(10, ge=2)
    """For a numeric question, K of the witness model: a wrong answer names a given number with chance
    1/(K − 1), so agreeing on a number is strong evidence."""
    use: Literal["answers", "distributions"] = "answers"
    """Pool the letters, or the agents' probabilities over the options where the endpoint sent them."""
    debias: bool = True
    """With `use: distributions`, divide each agent's position prior (from the profile) out first."""
    decisive_margin: float = Field(1.0, ge=0)
    """The margin (nats) from which the decision counts as decisive (`merge`'s `gate_margin` may differ)."""


class Weigh(Node[WeighConfig]):
    kind = "weigh"
    decides = True

    def __init__(self, node_id: str, config: WeighConfig | None = None) -> None:
        """The profile is read now, when the graph is compiled: a missing one fails before any call."""
        super().__init__(node_id, config)
        self._profile: ReliabilityProfile | None = None
        self._by_source: dict[str, ReliabilityProfile] = {}
        if self.config.weights == "profile":
            field = f"nodes.{node_id}.config.profile"
            if self.config.profile is None:
                raise ConfigError("graph", field, "`weights: profile` needs a profile name")
            self._profile = load_profile(self.config.profile, field=field)
            self._by_source = {
                source: load_profile(ref, field=f"nodes.{node_id}.config.by_source.{source}")
                for source, ref in self.config.by_source.items()
            }

    def state_versions(self) -> dict[str, str]:
        profiles = [self._profile, *self._by_source.values()] if self._profile is not None else []
        return {p.name: p.label for p in profiles}

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        started = time.time()
        item = item_of(state)
        outputs = analyses_of(state)
        labels = item.letters or tuple(sorted({o.answer for o in outputs if o.answer is not None}))
        k = len(labels) if item.kind == "choice" else max(self.config.numeric_options, len(labels) + 1)
        accuracies, priors, source = self._reliabilities(state, outputs, item)
        use_distributions = self.config.use == "distributions" and item.kind == "choice"
        scores = pooled_scores(outputs, accuracies, labels, use_distributions=use_distributions, priors=priors, k=k)
        answered = [o for o in outputs if o.answer in labels]
        if not answered:
            decision = Decision(answer=None, node=self.node_id, method="none", note="no analyst answered")
            return {"decision": decision.model_dump()}
        ranked = sorted(scores.values(), reverse=True)
        best = ranked[0]
        tied = [o for o, v in scores.items() if abs(v - best) < 1e-9]
        answer = tied[0] if len(tied) == 1 else break_tie(tied, answered, context_of(runtime, self.node_id).priority)
        margin = round(best - (ranked[1] if len(ranked) > 1 else 0.0), 6)
        decisive = margin >= self.config.decisive_margin
        if self.config.use == "distributions" and (letters_only := [o.witness for o in answered if not o.distribution]):
            source += f"; no log-probabilities from {', '.join(letters_only)} (their letters used)"
        decision = Decision(
            answer=answer,
            node=self.node_id,
            method="weighted",
            tally=scores,
            margin=margin,
            note=f"{source}; margin {margin:.2f} nats{' (decisive)' if decisive else ''}"
            + ("; tie broken by agent priority" if len(tied) > 1 else ""),
            started_at=started,
            ended_at=time.time(),
        )
        return {"decision": decision.model_dump()}

    def _reliabilities(
        self, state: dict, outputs: list, item: Item
    ) -> tuple[dict[str, float], dict[str, list[float] | None], str]:
        agents = sorted({o.witness for o in outputs})
        if self._profile is not None:
            profile = self._by_source.get(item.source, self._profile)
            known, k = profile.agents, len(item.letters)
            accuracies = {a: known[a].accuracy for a in agents if a in known}
            priors = {a: (known[a].priors.get(k) if self.config.debias else None) for a in agents if a in known}
            unknown = [a for a in agents if a not in known]
            note = f"weights from profile {profile.label}"
            return accuracies, priors, note + (f"; not in it (no weight): {', '.join(unknown)}" if unknown else "")
        if self.config.weights == "router" and (routing := state.get("routing")):
            ema = routing.get("ema", {})  # the router measures analyses: direct answers get no weight
            accuracies = {a: float(ema[a]["accuracy"]) for a in agents if a in ema}
            return accuracies, {}, f"weights from the router's EMAs (state v{routing.get('state_version')})"
        return dict.fromkeys(agents, _EQUAL_ACCURACY), {}, "equal weights"
