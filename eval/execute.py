"""Running a planned evaluation: each system through the same `Session` and logging functions as
`orch ask` and `orch run`, its results stored the moment they exist, the parent run finished last."""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from dataclasses import replace

from orch.app.recording import log_results, log_setup
from orch.app.session import Session, check_keys
from orch.backends.cache import CallCache
from orch.backends.pool import AgentPool
from orch.eval.answering import SystemJob, answer_pending
from orch.eval.compared import compared, router_note
from orch.eval.distributed import Engine, open_engine
from orch.eval.evaluate import EvalHooks, EvalOutcome, sc_samples
from orch.eval.plan import EvalPlan, digest
from orch.eval.record import finish_parent, log_parent_params, parent_experiment
from orch.eval.store import EvaluationRecord, ResultStore
from orch.eval.systems import System, self_consistency_graph
from orch.locks import file_lock
from orch.mlflow_config import MlflowSettings
from orch.nodes.budgets import RunBudget
from orch.nodes.prompts import PROMPT_VERSION
from orch.records import ItemResult
from orch.settings import get_settings
from orch.tracking import Tracker

__all__ = ["Evaluation"]


def _tokens_per_item(results: list[ItemResult]) -> float:
    return statistics.fmean(r.usage.input_tokens + r.usage.output_tokens for r in results) if results else 0.0


class Evaluation:
    """One invocation of a planned evaluation (a resumed one reopens the same MLflow runs)."""

    def __init__(self, plan: EvalPlan, settings: MlflowSettings, hooks: EvalHooks) -> None:
        self.plan = plan
        self.request = plan.request
        self.hooks = hooks
        orch_settings = get_settings()
        # the cache first: a store that cannot be reached leaves no evaluation record behind
        self.cache = CallCache(orch_settings.call_cache_url, prompt_version=PROMPT_VERSION, replay=self.request.replay)
        self.store = ResultStore(orch_settings.eval_store_url)
        if self.request.trace_rate is not None:
            tracing = settings.tracing.model_copy(update={"sample_rate": self.request.trace_rate})
            settings = settings.model_copy(update={"tracing": tracing})
        self.mlflow_settings: MlflowSettings = settings
        self.results: dict[str, list[ItemResult]] = {}
        self.notes: list[str] = list(plan.dataset.notes)
        self._pool: AgentPool | None = None
        self.engine: Engine | None = None
        """The distributed engine whose workers answer the items (`--workers`, `--scheduler`), if any."""
        self.worker_calls = 0
        self.worker_hits = 0

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
        """Run the evaluation, or wait for another process running the same one and then join it:
        the same command twice never runs the same items twice."""
        if not self.request.replay:  # a replay calls no endpoint, so needs no key
            agents = {
                a
                for s in self.plan.systems
                if s.graph is not None
                for a in s.graph.required_agents(self.plan.pool_config)
            }
            check_keys(self.plan.pool_config, sorted(agents))
        lock = get_settings().state_dir / f"eval-{self.plan.eval_key()[:16]}.lock"
        with (
            file_lock(lock, on_wait=self.hooks.waiting),
            open_engine(self.request.workers, self.request.scheduler) as engine,
        ):
            self.engine = engine  # connected before any run opens: a scheduler that is down is bad input
            return self._run()

    @property
    def calls_made(self) -> int:
        """Real model calls of this invocation: this process's cache misses and its workers'."""
        return self.cache.stats.misses + self.worker_calls

    @property
    def cache_hits(self) -> int:
        return self.cache.stats.hits + self.worker_hits

    def _run(self) -> EvalOutcome:
        tracker = Tracker(self.mlflow_settings)
        record = self.record(tracker)
        calls_before = self.calls_made
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
                tracker.log_params(plan.budgets.params())
            budget = RunBudget(plan.budgets)  # one budget for the whole evaluation, every system
            for index, declared in enumerate(plan.systems):
                if budget.reached() is not None:  # no new item starts: later systems are not opened
                    self.results[declared.name] = self._skipped(declared, budget)
                    continue
                system = plan.systems[index] = self.resolve(declared)
                self.results[system.name] = self._run_system(system, record, stack, budget)
            systems = compared(plan.systems, plan.sample.items, self.results, self.notes)
            calls = self.calls_made - calls_before
            report, markdown = finish_parent(tracker, plan, systems, self.notes, calls, self.cache_hits)
            counts = {status: self._count(status) for status in ("degraded", "failed")}
            any_failed, stopped = any(counts["failed"].values()), budget.stop()
            record.status = "incomplete" if any_failed or stopped else "finished"
            tracker.log_metrics(budget.metrics())
            tracker.set_tags({"orch.status": record.status, **budget.tags()})
            self.store.save_evaluation(record)
        if stopped or any_failed:  # a budget's stop is an interruption (resumable), not a failure
            tracker.end_as(parent_id, "KILLED" if stopped else "FAILED")
        hits = self.cache_hits
        degraded, failed = counts["degraded"], counts["failed"]
        return EvalOutcome(record, plan.sample, report, markdown, calls, hits, systems, degraded, failed, stopped)

    def _count(self, status: str) -> dict[str, int]:
        return {name: sum(r.status == status for r in results) for name, results in self.results.items()}

    def pool(self, stack: ExitStack) -> AgentPool:
        """The agents, started once and only if some item still needs a model."""
        if self._pool is None:
            plan = self.plan
            self._pool = stack.enter_context(
                AgentPool.start(plan.pool_config, plan.needed_agents(), source=plan.pool_source, cache=self.cache)
            )
        return self._pool

    def _skipped(self, system: System, budget: RunBudget) -> list[ItemResult]:
        """A system after the budget's stop: not opened; its earlier results count, the rest do not start
        (a self-consistency system not yet sized has no key, so none of its items count as done)."""
        items = self.plan.sample.items
        key = self.plan.system_key(system.graph) if system.graph is not None else None
        done = self.store.load(key, [i.id for i in items]) if key is not None else {}
        budget.skip(len(items) - len(done))
        return [done[i.id] for i in items if i.id in done]

    def _run_system(
        self, system: System, record: EvaluationRecord, outer: ExitStack, budget: RunBudget
    ) -> list[ItemResult]:
        """One system's items, by one process at a time: another evaluation sharing this system (the
        same graph, pool and items' settings) waits here, then finds the items it needs finished."""
        assert system.graph is not None  # resolved
        key = self.plan.system_key(system.graph)
        lock = get_settings().state_dir / f"system-{key[:16]}.lock"
        with file_lock(lock, on_wait=lambda: self.hooks.system_waiting(system)):
            return self._answer_system(system, record, outer, budget, key)

    def _answer_system(
        self, system: System, record: EvaluationRecord, outer: ExitStack, budget: RunBudget, key: str
    ) -> list[ItemResult]:
        assert system.graph is not None
        plan = self.plan
        session = Session(system.graph, plan.pool_config, pool_source=plan.pool_source, pool_hash=plan.pool_hash)
        items = self.plan.sample.items
        done = self.store.load(key, [i.id for i in items])
        tracker = Tracker(self.mlflow_settings)
        calls_before = self.calls_made
        run_context = tracker.start_run(
            record.experiment,
            system.name,
            parent_run_id=record.parent_run_id,
            tags={"orch.system": system.name, "orch.kind": system.kind},
            run_id=record.system_run_ids.get(system.name),
        )
        with run_context as run_id:
            pending = [i for i in items if i.id not in done]
            remote = self.engine is not None and bool(pending)
            job = self._job(system, record, key, tracker if remote else None)
            # all items finished, or answered by the engine's workers: nothing is started here
            agents = self.pool(outer) if pending and not remote else AgentPool(self.plan.pool_config, {})

            def started(session: Session) -> None:
                if system.name not in record.system_run_ids:
                    record.system_run_ids[system.name] = run_id
                    self.store.save_evaluation(record)
                    log_setup(tracker, session, **self._system_params(system, key))
                self.hooks.system_started(system, len(items), len(done))

            local = [] if remote else pending
            answer_pending(
                job,
                session,
                agents,
                self.store,
                tracker,
                local,
                done,
                budget=budget,
                on_started=started,
                on_result=lambda result: self.hooks.item_done(system, result),
                log_final_state=not remote,
            )
            if remote:
                assert self.engine is not None
                calls, hits, traced = self.engine.answer_into(
                    done, self.store, job, [i.id for i in pending], in_order=session.graph.route is not None,
                    on_result=lambda result: self.hooks.item_done(system, result),
                )  # fmt: skip
                self.worker_calls, self.worker_hits = self.worker_calls + calls, self.worker_hits + hits
                tracker.expect_traces(traced)  # the workers' traces, counted in this run when it ends
            results = [done[i.id] for i in items if i.id in done]  # a budget's stop leaves some unstarted
            stopped = len(results) < len(items)
            calls = self.calls_made - calls_before
            if session.graph.route is not None:
                policy = session.graph.route.config.policy.policy_hash
                self.notes.append(router_note(system.name, results, job.router_id, policy))
            log_results(tracker, results, calls_made=calls)
            tracker.set_tags({"orch.stopped": "budget" if stopped else "no"})
        if stopped or any(r.status == "failed" for r in results):
            tracker.end_as(run_id, "KILLED" if stopped else "FAILED")
        self.hooks.system_finished(system, results, calls)
        return results

    def _job(self, system: System, record: EvaluationRecord, key: str, remote: Tracker | None) -> SystemJob:
        """What answering the system's items needs; for workers (`remote`: the system run's tracker)
        the run's ids too, waiting for it to open (a local run opens while the first calls go out)."""
        assert system.graph is not None
        mlflow, run = self.mlflow_settings, ("", "")
        if remote is not None:
            mlflow = mlflow.model_copy(update={"tracking_uri": remote.tracking_uri})
            run = (remote.run_id or "", remote.experiment_id or "")
        return SystemJob.of(
            self.plan,
            system.graph,
            key,
            router_id=f"eval-{record.eval_key[:12]}-{system.name}",
            router_scope=record.eval_key[:16],
            store_url=self.store.url,
            cache_url=self.cache.url,
            mlflow=mlflow,
            run=run,
        )

    def _system_params(self, system: System, key: str) -> dict[str, object]:
        return {
            "system": system.name,
            "kind": system.kind,
            "baseline": system.baseline,
            "system_key": key,
            "samples": system.samples or "",
            **self.plan.budgets.params(),
        }
