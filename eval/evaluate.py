"""Run an evaluation: several systems on the same sampled items, resumable, cached, in MLflow.

One parent MLflow run per evaluation and one nested run per system (same metric keys, so the UI
compares them side by side). Each item's result is stored the moment it completes; re-running
the same evaluation skips finished items and reopens the same runs. Every model call goes
through the content-addressed call cache, so systems that share calls (a vote and the single
agents it polls) pay for them once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from orch.backends.cache import CallCache
from orch.backends.pool import AgentPool
from orch.config import load_pool_config, pool_fingerprint
from orch.eval.datasets import ColumnMapping, Dataset, load_benchmark
from orch.eval.plots import figures
from orch.eval.report import EvalReport, SystemResults, build_report, render_markdown
from orch.eval.sampling import Sample, sample
from orch.eval.stats import accuracy
from orch.eval.store import EvaluationRecord, ResultStore
from orch.eval.systems import System, parse_systems, self_consistency_spec
from orch.graphs import CompiledSpec, compile_spec, render_png, required_agents
from orch.items import Item
from orch.nodes.prompts import PROMPT_VERSION
from orch.recording import item_row
from orch.routers.report import router_metrics, stored_observations
from orch.routers.setup import open_router
from orch.runner import GraphRunner, ItemResult
from orch.settings import get_settings
from orch.summary import summarize
from orch.tracking import MlflowSettings, Tracker, load_mlflow_settings

__all__ = ["EvalHooks", "EvalOutcome", "EvalRequest", "evaluate", "sc_samples"]


class EvalRequest(BaseModel):
    """What `orch eval` was asked to do."""

    model_config = ConfigDict(frozen=True)

    benchmark: str
    """mmlu, mmlu-pro, mmlu-pro-validation, gsm8k, or a JSONL/CSV/Parquet path."""
    sample: str = "paper"
    seed: int = 0
    systems: str | None = None
    """Comma-separated systems (see `orch.eval.systems`); None: the standard comparison set."""
    baselines: tuple[str, ...] = ()
    """Graphs among the systems to compare as baselines (e.g. `orch` against `orch-ema`)."""
    concurrency: int = Field(1, ge=1)
    replay: bool = False
    """Refuse any call that is not in the cache: a bit-identical offline re-run."""
    fresh: bool = False
    """Start new MLflow runs even if this evaluation exists (finished items and cached calls still count)."""
    exclude_sample: str | None = None
    """Remove the items of this preset (same seed) first: a development split disjoint from a reported one."""
    trace_rate: float | None = Field(None, ge=0, le=1)
    budget_tolerance: float = Field(0.25, ge=0)
    mapping: ColumnMapping | None = None


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


def sc_samples(target_tokens: float, sample_tokens: float, *, low: int = 2, high: int = 16) -> int:
    """Samples of a chain of thought that spend about the target's tokens per item."""
    if sample_tokens <= 0:
        return low
    return max(low, min(high, round(target_tokens / sample_tokens)))


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _tokens_per_item(results: list[ItemResult]) -> float:
    return statistics.fmean(r.usage.input_tokens + r.usage.output_tokens for r in results) if results else 0.0


class _Evaluation:
    def __init__(self, request: EvalRequest, config: Path | None, hooks: EvalHooks) -> None:
        self.request = request
        self.hooks = hooks
        self.dataset: Dataset = load_benchmark(request.benchmark, request.mapping)
        exclude = sample(self.dataset, request.exclude_sample, request.seed).ids if request.exclude_sample else ()
        self.sample = sample(self.dataset, request.sample, request.seed, exclude=exclude)
        self.pool_config, pool_path = load_pool_config(config)
        self.pool_source = str(pool_path)
        self.pool_hash = pool_fingerprint(self.pool_config, pool_path)
        self.systems = parse_systems(request.systems, self.pool_config, baselines=request.baselines)
        settings = get_settings()
        self.store = ResultStore(settings.state_dir / "evals.sqlite")
        self.cache = CallCache(
            settings.state_dir / "calls.sqlite", prompt_version=PROMPT_VERSION, replay=request.replay
        )
        mlflow_settings = load_mlflow_settings()
        if request.trace_rate is not None:
            tracing = mlflow_settings.tracing.model_copy(update={"sample_rate": request.trace_rate})
            mlflow_settings = mlflow_settings.model_copy(update={"tracing": tracing})
        self.mlflow_settings: MlflowSettings = mlflow_settings
        self.results: dict[str, list[ItemResult]] = {}
        self.notes: list[str] = list(self.dataset.notes)

    # -- identities ------------------------------------------------------------------------
    def eval_key(self) -> str:
        identity: dict[str, object] = {
            "dataset": self.dataset.name,
            "dataset_sha256": self.dataset.sha256,
            "items": self.sample.manifest()["item_ids_sha256"],
            "seed": self.request.seed,
            "systems": [s.name for s in self.systems],
            "pool": self.pool_hash,
            "prompts": PROMPT_VERSION,
        }
        if self.request.baselines:  # only when given, so earlier evaluations keep their keys
            identity["baselines"] = sorted(self.request.baselines)
        return _digest(identity)

    def system_key(self, system: System, compiled: CompiledSpec) -> str:
        """What determines a system's results; items done under the same key are never rerun."""
        return _digest(
            {
                "spec": compiled.spec.spec_hash,
                "pool": self.pool_hash,
                "prompts": PROMPT_VERSION,
                "dataset_sha256": self.dataset.sha256,
            }
        )

    # -- systems ---------------------------------------------------------------------------
    def resolve(self, system: System) -> System:
        """Fix self-consistency's sample count from the budget of the targets already run."""
        if system.kind != "sc" or system.spec is not None:
            return system
        targets = [name for name, s in zip(self._names(), self.systems, strict=True) if not s.baseline]
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
        spec = self_consistency_spec(system.agent or "", samples)
        return system.model_copy(update={"spec": spec, "samples": samples})

    def _names(self) -> list[str]:
        return [s.name for s in self.systems]

    def needed_agents(self) -> tuple[str, ...]:
        agents: set[str] = set()
        for system in self.systems:
            spec = system.spec or self_consistency_spec(system.agent or "", 2)
            agents.update(
                required_agents(compile_spec(spec, source=system.source, pool=self.pool_config), self.pool_config)
            )
        return tuple(sorted(agents))

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> EvalOutcome:
        eval_key = self.eval_key()
        record = None if self.request.fresh else self.store.evaluation(eval_key)
        tracker = Tracker(self.mlflow_settings)
        if record is None:
            record = EvaluationRecord(
                eval_key=eval_key if not self.request.fresh else _digest([eval_key, id(self), time.time()]),
                benchmark=self.dataset.name,
                sample=self.sample.preset,
                seed=self.request.seed,
                systems=self._names(),
                experiment=tracker.experiment_name("eval", self.dataset.name),
            )
        calls_before = self.cache.stats.misses
        with ExitStack() as stack:
            parent_id = stack.enter_context(
                tracker.start_run(
                    record.experiment,
                    f"{self.dataset.name} {self.sample.preset} seed={self.request.seed}",
                    tags={"orch.command": "eval", "orch.benchmark": self.dataset.name, "orch.kind": "evaluation"},
                    run_id=record.parent_run_id,
                )
            )
            if record.parent_run_id is None:
                record.parent_run_id = parent_id
                self.store.save_evaluation(record)
                self._log_parent_params(tracker)
            pool: list[AgentPool] = []

            def get_pool() -> AgentPool:
                if not pool:  # started once, only if some item still needs a model
                    pool.append(
                        stack.enter_context(
                            AgentPool.start(
                                self.pool_config, self.needed_agents(), source=self.pool_source, cache=self.cache
                            )
                        )
                    )
                return pool[0]

            for index, declared in enumerate(self.systems):
                system = self.resolve(declared)
                self.systems[index] = system
                self.results[system.name] = self._run_system(system, record, get_pool)
            report = build_report(
                [
                    SystemResults(name=s.name, kind=s.kind, baseline=s.baseline, results=self.results[s.name])
                    for s in self.systems
                ],
                benchmark=self.dataset.name,
                sample=self.sample.preset,
                seed=self.request.seed,
                dataset_sha256=self.dataset.sha256,
                budget_tolerance=self.request.budget_tolerance,
                notes=self.notes,
            )
            markdown = render_markdown(report)
            tracker.log_text(markdown, "report.md")
            tracker.log_text(report.model_dump_json(indent=2), "report.json")
            for name, figure in figures(report).items():
                tracker.log_figure(figure, name)
            calls = self.cache.stats.misses - calls_before
            tracker.log_metrics({"calls_made": calls, "cache_hits": self.cache.stats.hits, "items": len(self.sample)})
            record.status = "finished"
            self.store.save_evaluation(record)
        return EvalOutcome(
            record=record,
            sample=self.sample,
            report=report,
            markdown=markdown,
            calls_made=calls,
            cache_hits=self.cache.stats.hits,
        )

    def _log_parent_params(self, tracker: Tracker) -> None:
        manifest = self.sample.manifest()
        tracker.log_params(
            {
                "benchmark": self.dataset.name,
                "dataset_sha256": self.dataset.sha256,
                "sample": self.sample.preset,
                "seed": self.request.seed,
                "n_items": len(self.sample),
                "item_ids_sha256": manifest["item_ids_sha256"],
                "systems": ",".join(self._names()),
                "pool_source": self.pool_source,
                "pool_hash": self.pool_hash,
                "prompt_version": PROMPT_VERSION,
                "exclude_sample": self.request.exclude_sample or "",
                **{f"agent.{a.id}": a.model for a in self.pool_config.agents},
            }
        )
        tracker.log_text(json.dumps(manifest, indent=2), "manifest.json")

    def _run_system(
        self, system: System, record: EvaluationRecord, get_pool: Callable[[], AgentPool]
    ) -> list[ItemResult]:
        if system.spec is None:
            raise ValueError(f"system {system.name!r} has no graph yet; resolve it first")
        compiled = compile_spec(system.spec, source=system.source, pool=self.pool_config)
        key = self.system_key(system, compiled)
        items = self.sample.items
        done = self.store.load(key, [i.id for i in items])
        pending: list[Item] = [i for i in items if i.id not in done]
        tracker = Tracker(self.mlflow_settings)
        calls_before = self.cache.stats.misses
        with ExitStack() as stack:
            run_id = stack.enter_context(
                tracker.start_run(
                    record.experiment,
                    system.name,
                    nested=True,
                    tags={"orch.system": system.name, "orch.kind": system.kind},
                    run_id=record.system_run_ids.get(system.name),
                )
            )
            # A routed system learns in item order from a cold start (nothing reused silently); on
            # resume, the feedback of finished items is folded again before any pending item is routed.
            router = stack.enter_context(
                open_router(
                    compiled,
                    self.pool_config,
                    router_id=f"eval-{record.eval_key[:12]}-{system.name}",
                    scope=record.eval_key[:16],
                    fresh=True,
                    order=[i.id for i in items],
                    replayed=[(i.id, stored_observations(done[i.id])) for i in items if i.id in done],
                    on_update=router_metrics(tracker),
                )
            )
            if system.name not in record.system_run_ids:
                record.system_run_ids[system.name] = run_id
                self.store.save_evaluation(record)
                tracker.log_params(
                    {
                        "system": system.name,
                        "kind": system.kind,
                        "baseline": system.baseline,
                        "graph": compiled.spec.name,
                        "spec_hash": compiled.spec.spec_hash,
                        "system_key": key,
                        "samples": system.samples or "",
                        "prompt_version": PROMPT_VERSION,
                    }
                )
                tracker.log_text(compiled.spec.to_yaml(), f"graph/{compiled.spec.name}.yaml")
                if router is not None:
                    tracker.log_params(router.params())
            self.hooks.system_started(system, len(items), len(done))
            if pending:
                runner = GraphRunner(compiled, get_pool(), router=router.service if router else None)

                def on_result(result: ItemResult) -> None:
                    self.store.save(key, result)
                    done[result.item.id] = result
                    self.hooks.item_done(system, result)

                asyncio.run(
                    runner.answer_all(
                        pending,
                        concurrency=self.request.concurrency,
                        on_result=on_result,
                        item_context=tracker.item_trace,
                    )
                )
            results = [done[i.id] for i in items]
            calls = self.cache.stats.misses - calls_before
            if router is not None:
                tracker.log_text(router.service.state.model_dump_json(indent=2), "router/final_state.json")
                extra = sum((r.feedback or {}).get("extra_calls", 0) for r in results)
                mergers = Counter((r.routing or {}).get("merger") for r in results)
                self.notes.append(
                    f"{system.name}: router {router.router_id} (policy {router.policy.policy_hash}); "
                    f"{extra} extra calls for feedback, counted in its calls and tokens; mergers chosen: "
                    + ", ".join(f"{agent} ×{n}" for agent, n in sorted(mergers.items()))
                )
            self._log_system(tracker, compiled, results, calls)
        self.hooks.system_finished(system, results, calls)
        return results

    def _log_system(self, tracker: Tracker, compiled: CompiledSpec, results: list[ItemResult], calls: int) -> None:
        summary = summarize(results)
        tracker.log_metrics(summary.metrics())
        tracker.log_metrics({"calls_made": calls})
        if results:
            acc = accuracy([bool(r.correct) for r in results])
            tracker.log_metrics({"accuracy_ci_low": acc.ci_low, "accuracy_ci_high": acc.ci_high})
        tracker.log_table([item_row(r) for r in results], "items.json")
        tracker.log_text("\n".join(r.model_dump_json() for r in results) + "\n", "results.jsonl")
        self._log_graph_png(tracker, compiled)

    @staticmethod
    def _log_graph_png(tracker: Tracker, compiled: CompiledSpec) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tracker.log_artifact(render_png(compiled.spec, Path(tmp) / "graph.png"), "graph")


def evaluate(request: EvalRequest, *, config: Path | None = None, hooks: EvalHooks | None = None) -> EvalOutcome:
    """Run (or resume) an evaluation and log it to MLflow.

    Raises:
        DatasetError, SpecError, ConfigError: bad benchmark, sample, systems or pool, before any model starts.
        ReplayMiss: with `replay`, a call that is not cached.
    """
    return _Evaluation(request, config, hooks or EvalHooks()).run()
