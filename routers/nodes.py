"""Graph nodes of the EMA router: `route` at the start, `feedback` at the end.

`route` ranks the agents on the router's state as it was before this item's outcome could be
known and sets the panel and the merger; `feedback` turns the item's outcome into observations
(one per agent) and hands them to the router, which folds them in item order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, field_validator

from orch.errors import ConfigError
from orch.items import Item
from orch.nodes.base import Node, NodeConfig, context_of
from orch.nodes.context import Router, RunContext
from orch.nodes.direct import answer_directly
from orch.nodes.state import analyses_of, item_of
from orch.records import AgentOutput, FeedbackRecord, Observation
from orch.routers.hosted import HostedRouter
from orch.routers.policy import PRESETS, RouterPolicy, resolve_policy
from orch.routers.service import RouterService

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

__all__ = ["Feedback", "FeedbackConfig", "Route", "RouteConfig", "observations_from_outputs"]


def _router(runtime: Runtime[RunContext], node_id: str) -> RouterService | HostedRouter:
    router: Router | None = context_of(runtime, node_id).router
    if not isinstance(router, RouterService | HostedRouter):
        raise ConfigError(
            "graph",
            f"nodes.{node_id}",
            "this graph routes, but the run has no router; run it through orch.Session "
            "(or orch ask/run/eval), which sets one up",
        )
    return router


def observations_from_outputs(
    item: Item, outputs: Sequence[AgentOutput], failed: Collection[str] = ()
) -> list[Observation]:
    """One observation per agent: the share of its answers that were right (None without gold, or
    when every call of it failed: a failure is counted once, by stability, not as a wrong answer
    too), its summed latency and cost (None when no call of it completed: a failed call's 0 ms is
    not a speed), and whether all its calls succeeded (stability). `failed`: agents with a failed
    call outside `outputs` (a merge call). Sorted by agent id."""
    by_agent: dict[str, list[AgentOutput]] = {}
    for output in outputs:
        by_agent.setdefault(output.agent, []).append(output)
    observations = []
    for agent in sorted({*by_agent, *failed}):
        outs = by_agent.get(agent, [])
        measured = sum(o.usage.calls for o in outs) > 0
        answered = [o for o in outs if o.path != "error"]
        correct = (
            None
            if item.answer is None or not answered
            else sum(o.answer == item.answer for o in answered) / len(answered)
        )
        observations.append(
            Observation(
                agent=agent,
                item_id=item.id,
                category=item.category,
                correct=correct,
                latency_ms=sum(o.usage.latency_ms for o in outs) if measured else None,
                cost=sum(o.usage.cost for o in outs) if measured else None,
                ok=agent not in failed and all(o.path != "error" for o in outs),
            )
        )
    return observations


def _failed_decider(state: dict) -> set[str]:
    """The agent whose deciding call (the merge) failed on this item, if any."""
    decision = state.get("decision") or {}
    return {decision["agent"]} if decision.get("agent") and decision.get("error") else set()


def _policy_or_preset(schema: dict) -> None:
    """Editors accept `policy: paper` as well as the policy's fields."""
    policy = schema["properties"]["policy"]
    schema["properties"]["policy"] = {
        "anyOf": [{"$ref": policy.pop("$ref")}, {"enum": sorted(PRESETS)}],
        **policy,
    }


class RouteConfig(NodeConfig):
    model_config = ConfigDict(json_schema_extra=_policy_or_preset)

    policy: RouterPolicy = RouterPolicy()
    """A preset name (`paper`, `paper-lexicographic`, `paper-direct`, `paper-exact`, `orch`) or the
    policy's fields."""
    agents: tuple[str, ...] | None = None
    """Candidate agents; default: every agent of the pool."""

    @field_validator("policy", mode="before")
    @classmethod
    def _coerce(cls, value: object) -> RouterPolicy:
        return resolve_policy(value)  # type: ignore[arg-type]


class Route(Node[RouteConfig]):
    kind = "route"

    def extra_agents(self, agent_ids: tuple[str, ...]) -> tuple[str, ...]:
        return self.config.agents or agent_ids

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        router = _router(runtime, self.node_id)
        decision = await router.route(item_of(state))
        roles = {**(state.get("roles") or {}), "merger": decision.merger}
        return {"panel": decision.panel, "roles": roles, "routing": decision.model_dump()}


class FeedbackConfig(NodeConfig):
    source: Literal["answers", "direct"] | None = None
    """`answers`: score each analyst's own answer (plus the router's probe, if any); `direct`: every
    candidate also answers directly (extra calls, counted in the item's usage). None: the router
    policy's `feedback`."""


class Feedback(Node[FeedbackConfig]):
    kind = "feedback"

    def extra_agents(self, agent_ids: tuple[str, ...]) -> tuple[str, ...]:
        return agent_ids if self.config.source == "direct" else ()

    async def __call__(self, state: dict, runtime: Runtime[RunContext]) -> dict:
        router = _router(runtime, self.node_id)
        context = context_of(runtime, self.node_id)
        item = item_of(state)
        source = self.config.source or router.policy.feedback
        probed = [] if source == "direct" else list((state.get("routing") or {}).get("probe") or [])
        asked = router.agents if source == "direct" else probed
        calls = (answer_directly(context.client(agent), item, node=self.node_id) for agent in asked)
        extra = list(await asyncio.gather(*calls))
        own = [] if source == "direct" else [o for o in analyses_of(state) if o.node != self.node_id]
        observations = observations_from_outputs(item, own + extra, _failed_decider(state))
        await router.areport(item.id, observations)
        record = FeedbackRecord(
            source=source,
            extra_calls=sum(o.usage.calls for o in extra),
            probed=probed,
            observations=observations,
        )
        update: dict = {"feedback": record.model_dump()}
        if extra:
            update["analyses"] = [o.model_dump() for o in extra]
        return update
