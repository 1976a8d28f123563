"""Run an evaluation: several systems on the same sampled items, resumable, cached, in MLflow.

One parent MLflow run per evaluation and one nested run per system, each logged by the same
function as an `orch ask` or `orch run` (same metric keys, so the UI compares them side by side).
Each item's result is stored the moment it completes; re-running the same evaluation skips
finished items and reopens the same runs. Every model call goes through the content-addressed
call cache, so systems that share calls (a vote and the single agents it polls) pay for them once.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from orch.app.recording import log_results, log_setup, router_metrics
from orch.app.session import RouterOptions, Session
from orch.backends.cache import CallCache
from orch.backends.pool import AgentPool
from orch.config import PoolConfig
from orch.eval.plan import EvalPlan, EvalRequest, digest
from orch.eval.record import finish_parent, log_parent_params, parent_experiment
from orch.eval.report import EvalReport, SystemResults
from orch.eval.sampling import Sample
from orch.eval.store import EvaluationRecord, ResultStore
from orch.eval.systems import System, self_consistency_graph
from orch.mlflow_config import MlflowSettings, load_mlflow_settings
from orch.nodes.prompts import PROMPT_VERSION
from orch.records import ItemResult
from orch.routers.report import stored_observations
from orch.settings import get_settings
from orch.tracking import Tracker

__all__ = ["EvalHooks", "EvalOutcome", "EvalRequest", "evaluate", "sc_samples"]


@dataclass
class EvalHooks:
    """Progress callbacks (the CLI draws a Rich progress bar with them)."""

    system_started: Callable[[System, int, int], None] = lambda system, total, done: None
    item_done: Callable[[System, ItemResult], None] = lambda system, result: None
    system_finished: Callable[[System, list[ItemResult], int], None] = lambda system, results, calls: None


@dataclass
class EvalOutcome:
    record: EvaluationRecord
    sample: Sample
    report: EvalReport
    markdown: str
    calls_made: int
    """Real model calls during this invocation (cache misses)."""
    cache_hits: int
    systems: list[SystemResults]

    def to_frame(self):
        """Accuracy, interval, tokens, calls and model time per system, as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "system": r.name,
                    "baseline": r.baseline,
                    "accuracy": r.accuracy.value,
                    "ci_low": r.accuracy.ci_low,
                    "ci_high": r.accuracy.ci_high,
                    "invalid": r.invalid.value,
                    "tokens_per_item": r.tokens_per_item,
                    "calls_per_item": r.calls_per_item,
                    "latency_p50_s": r.latency_p50_s,
                }
                for r in self.report.rows
            ]
        )


def sc_samples(target_tokens: float, sample_tokens: float, *, low: int = 2, high: int = 16) -> int:
    """Samples of a chain of thought that spend about the target's tokens per item."""
    if sample_tokens <= 0:
        return low
    return max(low, min(high, round(target_tokens / sample_tokens)))


def _tokens_per_item(results: list[ItemResult]) -> float:
    return statistics.fmean(r.usage.input_tokens + r.usage.output_tokens for r in results) if results else 0.0


class _Evaluation:
    def __init__(self, plan: EvalPlan, hooks: EvalHooks) -> None:
        self.plan = plan
        self.request = plan.request
        self.hooks = hooks
        state_dir = get_settings().state_dir
        self.store = ResultStore(state_dir / "evals.sqlite")
        self.cache = CallCache(state_dir / "calls.sqlite", prompt_version=PROMPT_VERSION, replay=self.request.replay)
        settings = load_mlflow_settings()
        if self.request.trace_rate is not None:
            tracing = settings.tracing.model_copy(update={"sample_rate": self.request.trace_rate})
            settings = settings.model_copy(update={"tracing": tracing})
        self.mlflow_settings: MlflowSettings = settings
        self.results: dict[str, list[ItemResult]] = {}
        self.notes: list[str] = list(plan.dataset.notes)
        self._pool: AgentPool | None = None

    def resolve(self, system: System) -> System:
        """Fix self-consistency's sample count from the budget of the targets already run."""
        if system.kind != "sc" or system.graph is not None:
            return system
        targets = [s.name for s in self.plan.systems if not s.baseline]
        cot = self.results.get(f"cot:{system.agent}")
        if targets and targets[0] in self.results and cot:
            target_tokens = _tokens_per_item(self.results[targets[0]])
            samples = sc_samples(target_tokens, _tokens_per_item(cot))
            self.notes.append(
                f"{system.name}: {samples} samples, matching {targets[0]}'s {target_tokens:.0f} tokens/item with "
                f"cot:{system.agent}'s {_tokens_per_item(cot):.0f} per chain of thought"
            )
        else:
            samples = 5
            self.notes.append(f"{system.name}: 5 samples (no target and cot:{system.agent} to match a budget)")
        return replace(system, graph=self_consistency_graph(system.agent or "", samples), samples=samples)

    def record(self, tracker: Tracker) -> EvaluationRecord:
        eval_key = self.plan.eval_key()
        record = None if self.request.fresh else self.store.evaluation(eval_key)
        if record is not None:
            return record
        return EvaluationRecord(
            eval_key=eval_key if not self.request.fresh else digest([eval_key, id(self), time.time()]),
            benchmark=self.plan.dataset.name,
            sample=self.plan.sample.preset,
            seed=self.request.seed,
            systems=self.plan.names,
            experiment=parent_experiment(tracker, self.plan),
        )

    def run(self) -> EvalOutcome:
        tracker = Tracker(self.mlflow_settings)
        record = self.record(tracker)
        calls_before = self.cache.stats.misses
        plan = self.plan
        with ExitStack() as stack:
            parent_id = stack.enter_context(
                tracker.start_run(
                    record.experiment,
                    f"{plan.dataset.name} {plan.sample.preset} seed={self.request.seed}",
                    tags={"orch.command": "eval", "orch.benchmark": plan.dataset.name, "orch.kind": "evaluation"},
                    run_id=record.parent_run_id,
                )
            )
            if record.parent_run_id is None:
                record.parent_run_id = parent_id
                self.store.save_evaluation(record)
                log_parent_params(tracker, plan)
            for index, declared in enumerate(plan.systems):
                system = plan.systems[index] = self.resolve(declared)
                self.results[system.name] = self._run_system(system, record, stack)
            systems = [
                SystemResults(name=s.name, kind=s.kind, baseline=s.baseline, results=self.results[s.name])
                for s in plan.systems
            ]
            calls = self.cache.stats.misses - calls_before
            report, markdown = finish_parent(tracker, plan, systems, self.notes, calls, self.cache.stats.hits)
            record.status = "finished"
            self.store.save_evaluation(record)
        return EvalOutcome(record, plan.sample, report, markdown, calls, self.cache.stats.hits, systems)

    def pool(self, stack: ExitStack) -> AgentPool:
        """The agents, started once and only if some item still needs a model."""
        if self._pool is None:
            plan = self.plan
            self._pool = stack.enter_context(
                AgentPool.start(plan.pool_config, plan.needed_agents(), source=plan.pool_source, cache=self.cache)
            )
        return self._pool

    def _run_system(self, system: System, record: EvaluationRecord, outer: ExitStack) -> list[ItemResult]:
        assert system.graph is not None  # resolved
        plan = self.plan
        session = Session(system.graph, plan.pool_config, pool_source=plan.pool_source, pool_hash=plan.pool_hash)
        key = self.plan.system_key(system.graph)
        items = self.plan.sample.items
        done = self.store.load(key, [i.id for i in items])
        tracker = Tracker(self.mlflow_settings)
        calls_before = self.cache.stats.misses
        run_context = tracker.start_run(
            record.experiment,
            system.name,
            nested=True,
            tags={"orch.system": system.name, "orch.kind": system.kind},
            run_id=record.system_run_ids.get(system.name),
        )
        with run_context as run_id:
            # A routed system learns in item order from a cold start (nothing reused silently); on
            # resume, the feedback of finished items is folded again before any pending item is routed.
            router = RouterOptions(
                router_id=f"eval-{record.eval_key[:12]}-{system.name}",
                scope=record.eval_key[:16],
                fresh=True,
                order=[i.id for i in items],
                replayed=[(i.id, stored_observations(done[i.id])) for i in items if i.id in done],
                on_update=router_metrics(tracker),
            )
            pending = [i for i in items if i.id not in done]
            # all items finished: nothing is started, and nothing may be called
            agents = self.pool(outer) if pending else AgentPool(self.plan.pool_config, {})
            with session.start(agents, router=router, item_context=tracker.item_trace) as runner:
                if system.name not in record.system_run_ids:
                    record.system_run_ids[system.name] = run_id
                    self.store.save_evaluation(record)
                    log_setup(tracker, session, **self._system_params(system, key))
                self.hooks.system_started(system, len(items), len(done))

                def on_result(result: ItemResult) -> None:
                    self.store.save(key, result)
                    done[result.item.id] = result
                    self.hooks.item_done(system, result)

                runner.batch(pending, concurrency=self.request.concurrency, on_result=on_result)
                if session.router is not None:
                    tracker.log_text(session.router.service.state.model_dump_json(indent=2), "router/final_state.json")
            results = [done[i.id] for i in items]
            calls = self.cache.stats.misses - calls_before
            self._note_router(system, session, results, router.router_id)
            log_results(tracker, results, calls_made=calls)
        self.hooks.system_finished(system, results, calls)
        return results

    def _system_params(self, system: System, key: str) -> dict[str, object]:
        return {
            "system": system.name,
            "kind": system.kind,
            "baseline": system.baseline,
            "system_key": key,
            "samples": system.samples or "",
        }

    def _note_router(self, system: System, session: Session, results: list[ItemResult], router_id: str) -> None:
        route = session.graph.route
        if route is None:
            return
        extra = sum(r.feedback.extra_calls for r in results if r.feedback)
        mergers: dict[str, int] = {}
        for r in results:
            if r.routing is not None:
                mergers[r.routing.merger] = mergers.get(r.routing.merger, 0) + 1
        self.notes.append(
            f"{system.name}: router {router_id} (policy {route.config.policy.policy_hash}); "
            f"{extra} extra calls for feedback, counted in its calls and tokens; mergers chosen: "
            + ", ".join(f"{agent} ×{n}" for agent, n in sorted(mergers.items()))
        )


def evaluate(
    request: EvalRequest, *, pool: PoolConfig | Path | None = None, hooks: EvalHooks | None = None
) -> EvalOutcome:
    """Run (or resume) an evaluation and log it to MLflow.

    Raises:
        DatasetError, SpecError, ConfigError: bad benchmark, sample, systems or pool, before any model
            starts or any run is opened.
        ReplayMiss: with `replay`, a call that is not cached.
    """
    return _Evaluation(EvalPlan(request, pool), hooks or EvalHooks()).run()
