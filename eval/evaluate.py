"""Run an evaluation: several systems on the same sampled items, resumable, cached, in MLflow.

One parent MLflow run per evaluation and one nested run per system, each logged by the same
function as an `orch ask` or `orch run` (same metric keys, so the UI compares them side by side).
Each item's result is stored the moment it completes; re-running the same evaluation skips
finished items and reopens the same runs. Every model call goes through the content-addressed
call cache, so systems that share calls (a vote and the single agents it polls) pay for them once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orch.config import PoolConfig
from orch.eval.distributed import check_engine_request
from orch.eval.plan import EvalPlan, EvalRequest
from orch.mlflow_config import load_mlflow_settings
from orch.tracking.preflight import check_tracking_store, tracking_uri_source

if TYPE_CHECKING:
    from orch.eval.report import EvalReport, SystemResults
    from orch.eval.sampling import Sample
    from orch.eval.store import EvaluationRecord
    from orch.eval.systems import System
    from orch.nodes.budgets import BudgetStop
    from orch.records import ItemResult

__all__ = ["EvalHooks", "EvalOutcome", "EvalRequest", "evaluate", "sc_samples"]


@dataclass
class EvalHooks:
    """Progress callbacks (the CLI draws a Rich progress bar with them)."""

    system_started: Callable[[System, int, int], None] = lambda system, total, done: None
    item_done: Callable[[System, ItemResult], None] = lambda system, result: None
    system_finished: Callable[[System, list[ItemResult], int], None] = lambda system, results, calls: None
    waiting: Callable[[], None] = lambda: None
    """Another process is running this same evaluation: this one waits, then reuses its results."""
    system_waiting: Callable[[System], None] = lambda system: None
    """Another evaluation is answering this system on these items: this one waits, then reuses them."""


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
    """What the report compares: each system's results on the items no system failed."""
    degraded: dict[str, int]
    """Per system: items answered although some call failed (labelled `degraded` in the item table)."""
    failed: dict[str, int]
    """Per system: items whose calls failed with no answer; stored as failures and retried next run."""
    stopped: BudgetStop | None = None
    """Set when a budget stopped the evaluation before all its items started: the MLflow runs end
    KILLED (tag `orch.stopped=budget`) and the same request, run again, continues."""

    @property
    def failed_items(self) -> int:
        return sum(self.failed.values())

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


def evaluate(
    request: EvalRequest, *, pool: PoolConfig | Path | None = None, hooks: EvalHooks | None = None
) -> EvalOutcome:
    """Run (or resume) an evaluation and log it to MLflow.

    Raises:
        DatasetError, SpecError, ConfigError: bad benchmark, sample, systems, pool or budget, before
            any model starts or any run is opened.
        ReplayMiss: with `replay`, a call that is not cached.
    """
    plan = EvalPlan(request, pool)  # every input is checked before anything is opened or imported
    settings = load_mlflow_settings()
    check_tracking_store(settings)
    check_engine_request(request, tracking_uri_source(settings)[2] or "sqlite:///mlflow.db")
    from orch.eval.execute import Evaluation

    return Evaluation(plan, settings, hooks or EvalHooks()).run()
