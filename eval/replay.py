"""Off-policy replay of a logged evaluation: other router settings, no model calls, one MLflow
run per setting (see `orch.routers.replay` for what is replayed and what is not claimed)."""

from __future__ import annotations

from pydantic import BaseModel

from orch.eval.logged import load_systems
from orch.routers.replay import ReplayResult, policy_for, replay, replay_log
from orch.routers.report import ema_metrics
from orch.tracking import Tracker

__all__ = ["ReplayOutcome", "replay_evaluation"]


class ReplayOutcome(BaseModel):
    run_id: str
    items: int
    source: str
    """Where the per-agent outcomes came from (a graph's analyses, or the single agents' direct answers)."""
    results: list[ReplayResult]
    fixed_agents: dict[str, float]
    """Each agent's own accuracy over the items: the best fixed choice in hindsight, for reference."""
    experiment: str = "orch-router-replay"
    run_ids: list[str] = []


def replay_evaluation(
    run_id: str, settings: dict[str, dict], *, log: bool = True, source: str = "auto"
) -> ReplayOutcome:
    """Replay `settings` (name → patch of the paper preset) on the evaluation `run_id`, logging each
    as an MLflow run (params: the policy; metrics: accuracies; EMA curves per item)."""
    systems = {s.name: s.results for s in load_systems(run_id)}
    items, agent_log, used = replay_log(systems, source)
    results = [replay(name, policy_for(patch), items, agent_log) for name, patch in settings.items()]
    n = max(len(items), 1)
    fixed = {
        a: sum(entry.answer == item.answer for entry, item in zip(entries, items, strict=True)) / n
        for a, entries in sorted(agent_log.items())
    }
    outcome = ReplayOutcome(run_id=run_id, items=len(items), source=used, results=results, fixed_agents=fixed)
    if log:
        for r in results:
            tracker = Tracker()
            with tracker.start_run(
                outcome.experiment,
                f"{r.setting} on {run_id[:8]}",
                tags={"orch.kind": "router-replay", "orch.source_run": run_id},
            ) as child:
                tracker.log_params(
                    {
                        "setting": r.setting,
                        "source_run": run_id,
                        "policy_hash": r.policy.policy_hash,
                        "policy": r.policy.model_dump_json(),
                        "items": r.items,
                    }
                )
                tracker.log_metrics(
                    {
                        "merger_accuracy": r.merger_accuracy,
                        "vote_accuracy": r.vote_accuracy,
                        "oracle_accuracy": r.oracle_accuracy,
                        "panel_latency_ms": r.panel_latency_ms,
                    }
                )
                for step, state in enumerate(r.states):
                    tracker.log_metrics(ema_metrics(state, r.policy), step=step)
                outcome.run_ids.append(child)
    return outcome
