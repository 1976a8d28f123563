"""An evaluation's plan: everything it will run, loaded and checked before anything is opened.

The dataset and sample, the pool, the systems as checked graphs, and the keys that identify the
evaluation and each system's results. A bad benchmark, sample, system or pool fails here, before
an MLflow run or a result record exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from orch.app.session import check_keys
from orch.config import PoolConfig, load_pool_config, pool_fingerprint
from orch.eval.datasets import ColumnMapping, Dataset, load_benchmark
from orch.eval.noninferiority import DEFAULT_MARGIN
from orch.eval.sampling import Sample, parse_exclusion, sample
from orch.eval.systems import System, parse_systems, self_consistency_graph
from orch.graphs import Graph
from orch.items import Item
from orch.nodes.budgets import Budgets
from orch.nodes.prompts import PROMPT_VERSION

__all__ = ["EvalPlan", "EvalRequest", "digest", "items_dataset"]


class EvalRequest(BaseModel):
    """What an evaluation is asked to do (`orch eval`'s options)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    benchmark: str | Sequence[Item]
    """mmlu, mmlu-pro, mmlu-pro-validation, gsm8k, a JSONL/CSV/Parquet path, or a list of `Item`s."""
    sample: str = "paper"
    seed: int = 0
    systems: str | Sequence[str | Graph] | None = None
    """Comma-separated names, or a list of names and `Graph`s (see `orch.eval.systems`); None: the standard set."""
    baselines: tuple[str, ...] = ()
    """Graphs among the systems to compare as baselines (e.g. `orch` against `orch-ema`)."""
    concurrency: int = Field(1, ge=1)
    replay: bool = False
    """Refuse any call that is not in the cache: a bit-identical offline re-run."""
    fresh: bool = False
    """Start new MLflow runs even if this evaluation exists (finished items and cached calls still count)."""
    exclude_sample: str | None = None
    """Remove the items of this preset first (`paper`, or `paper@0` to name the seed it was drawn with;
    default the run's seed): a development split disjoint from a reported one."""
    trace_rate: float | None = Field(None, ge=0, le=1)
    budget_tolerance: float = Field(0.25, ge=0)
    noninferiority_margin: float = Field(DEFAULT_MARGIN, ge=0, lt=1)
    """Accuracy (a fraction: 0.03 = 3 points) a target may lose to the best single agent and still be
    called non-inferior in the report's verdict. Only the report depends on it, not the evaluation's key."""
    mapping: ColumnMapping | None = None
    max_cost: float | None = None
    """US dollars this invocation may spend on calls before no new item starts (see `orch.nodes.budgets`)."""
    max_time: float | None = None
    """Seconds of wall time, from the first item, before no new item starts; re-running continues."""
    item_max_cost: float | None = None
    """US dollars of one item's calls after which its further calls are refused (failed calls)."""
    item_max_time: float | None = None
    """Seconds after which an item is cut off: a failed item, retried by the next run."""
    workers: int | None = Field(None, ge=1)
    """Answer the items on a local Dask cluster of this many worker processes (`orch.eval.distributed`)."""
    scheduler: str | None = None
    """Answer the items on the workers of a running Dask cluster: its scheduler's address (`tcp://host:8786`)."""


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def items_dataset(items: Sequence[Item], name: str = "items") -> Dataset:
    """A dataset from `Item`s given in code; its hash covers every item, so samples stay stable."""
    sha = digest([item.model_dump(mode="json") for item in items])
    return Dataset(name=name, items=tuple(items), sha256=sha, path=Path("<items>"))


class EvalPlan:
    """The loaded, checked evaluation: budgets, dataset, sample, pool and systems.

    Budgets are not part of the evaluation's key: the same evaluation re-run under another budget
    (or none) continues where the last one stopped.
    """

    def __init__(self, request: EvalRequest, pool: PoolConfig | Path | None = None) -> None:
        self.request = request
        self.budgets = Budgets(
            max_cost=request.max_cost,
            max_time=request.max_time,
            item_max_cost=request.item_max_cost,
            item_max_time=request.item_max_time,
        )
        benchmark = request.benchmark
        if isinstance(benchmark, str):
            self.dataset = load_benchmark(benchmark, request.mapping)
        else:
            self.dataset = items_dataset(list(benchmark))
        exclude: tuple[str, ...] = ()
        if request.exclude_sample:
            preset, seed = parse_exclusion(request.exclude_sample, request.seed)
            exclude = sample(self.dataset, preset, seed, option="--exclude-sample").ids
        self.sample: Sample = sample(self.dataset, request.sample, request.seed, exclude=exclude)
        if isinstance(pool, PoolConfig):
            self.pool_config, self.pool_source, self.pool_hash = pool, "<given>", pool_fingerprint(pool)
        else:
            self.pool_config, path = load_pool_config(pool)
            self.pool_source, self.pool_hash = str(path), pool_fingerprint(self.pool_config, path)
        self.systems: list[System] = parse_systems(request.systems, self.pool_config, baselines=request.baselines)
        if not request.replay:  # a replay calls no endpoint, so needs no key
            agents = {a for s in self.systems if s.graph is not None for a in s.graph.required_agents(self.pool_config)}
            check_keys(self.pool_config, sorted(agents))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.systems]

    def eval_key(self) -> str:
        """What identifies the evaluation: re-running the same one reopens its MLflow runs."""
        identity: dict[str, object] = {
            "dataset": self.dataset.name,
            "dataset_sha256": self.dataset.sha256,
            "items": self.sample.manifest()["item_ids_sha256"],
            "seed": self.request.seed,
            "systems": self.names,
            "pool": self.pool_hash,
            "prompts": PROMPT_VERSION,
        }
        if self.request.baselines:  # only when given, so earlier evaluations keep their keys
            identity["baselines"] = sorted(self.request.baselines)
        return digest(identity)

    def system_key(self, graph: Graph) -> str:
        """What determines a system's results; items done under the same key are never rerun."""
        return digest(
            {
                "spec": graph.spec_hash,
                **({"state": graph.state_versions} if graph.state_versions else {}),  # a refitted profile: new key
                "pool": self.pool_hash,
                "prompts": PROMPT_VERSION,
                "dataset_sha256": self.dataset.sha256,
            }
        )

    def needed_agents(self) -> tuple[str, ...]:
        """Every agent some system may call, so one pool serves them all."""
        agents: set[str] = set()
        for system in self.systems:
            graph = system.graph or self_consistency_graph(system.agent or "", 2)
            agents.update(graph.required_agents(self.pool_config))
        return tuple(sorted(agents))
