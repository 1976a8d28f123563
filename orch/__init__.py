"""orch — many analyses, one merge: discrete-choice answers from a team of LLMs, as LangGraph
graphs tracked in MLflow.

    import orch

    graph = orch.load_graph("orch")                            # or orch.GraphBuilder(...).build()
    with orch.Session(graph) as session:                       # the embedded local pool, or pool="my.yaml"
        result = session.invoke(orch.make_item("2 + 2 = ?", ["3", "4"]))
    outcome = orch.ask("2 + 2 = ?", ["3", "4"])                # the same, logged as an MLflow run
    evaluation = orch.evaluate(orch.EvalRequest(benchmark="mmlu", sample="first:6", systems=["single:*", graph]))
    evaluation.to_frame()

Names are imported on first use, so `import orch` (and `orch --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "END",
    "START",
    "AgentPool",
    "AskOutcome",
    "ConfigError",
    "DatasetError",
    "EvalHooks",
    "EvalOutcome",
    "EvalRequest",
    "Graph",
    "GraphBuilder",
    "Item",
    "ItemResult",
    "OrchError",
    "PoolConfig",
    "Results",
    "RouterOptions",
    "RunContext",
    "RunOutcome",
    "Session",
    "SpecError",
    "answering",
    "ask",
    "evaluate",
    "give_feedback",
    "load_benchmark",
    "load_graph",
    "load_pool_config",
    "make_item",
    "report_from_run",
    "run",
]

_WHERE = {
    "END": "orch.graphs",
    "START": "orch.graphs",
    "Graph": "orch.graphs",
    "GraphBuilder": "orch.graphs",
    "load_graph": "orch.graphs",
    "AgentPool": "orch.backends.pool",
    "Item": "orch.items",
    "ItemResult": "orch.records",
    "Results": "orch.summary",
    "PoolConfig": "orch.config",
    "load_pool_config": "orch.config",
    "ConfigError": "orch.errors",
    "DatasetError": "orch.errors",
    "OrchError": "orch.errors",
    "SpecError": "orch.errors",
    "RunContext": "orch.nodes.context",
    "RouterOptions": "orch.app.session",
    "Session": "orch.app.session",
    "give_feedback": "orch.app.feedback",
    "AskOutcome": "orch.api",
    "RunOutcome": "orch.api",
    "answering": "orch.api",
    "ask": "orch.api",
    "make_item": "orch.api",
    "run": "orch.api",
    "EvalHooks": "orch.eval.evaluate",
    "EvalOutcome": "orch.eval.evaluate",
    "EvalRequest": "orch.eval.evaluate",
    "evaluate": "orch.eval.evaluate",
    "load_benchmark": "orch.eval.datasets",
    "report_from_run": "orch.eval.logged",
}


_SUBPACKAGES = ("app", "backends", "eval", "graphs", "nodes", "routers")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"orch.{name}")
    if name not in _WHERE:
        raise AttributeError(f"module 'orch' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from orch.api import AskOutcome, RunOutcome, answering, ask, make_item, run
    from orch.app.feedback import give_feedback
    from orch.app.session import RouterOptions, Session
    from orch.backends.pool import AgentPool
    from orch.config import PoolConfig, load_pool_config
    from orch.errors import ConfigError, DatasetError, OrchError, SpecError
    from orch.eval.datasets import load_benchmark
    from orch.eval.evaluate import EvalHooks, EvalOutcome, EvalRequest, evaluate
    from orch.eval.logged import report_from_run
    from orch.graphs import END, START, Graph, GraphBuilder, load_graph
    from orch.items import Item
    from orch.nodes.context import RunContext
    from orch.records import ItemResult
    from orch.summary import Results
