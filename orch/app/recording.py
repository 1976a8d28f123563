"""What an `ask` or `run` puts in its MLflow run: params, metrics, the item table, graph pictures."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from orch.errors import OrchError
from orch.graphs import mermaid, render_png
from orch.nodes.prompts import PROMPT_VERSION
from orch.runner import GraphRunner, ItemResult
from orch.session import Session
from orch.summary import RunSummary, item_row, summarize
from orch.tracking import Tracker

__all__ = ["log_graph", "log_results", "run_params"]


def run_params(session: Session, runner: GraphRunner, **extra: object) -> dict[str, object]:
    config = session.pool_config
    params: dict[str, object] = {
        "graph": session.spec.name,
        "graph_source": str(session.spec_path),
        "spec_hash": session.spec.spec_hash,
        "pool_source": session.pool_source,
        "pool_hash": session.pool_hash,
        "prompt_version": PROMPT_VERSION,
        "seed": config.seed,
        "temperature": config.temperature,
        "panel": ",".join(runner.panel),
        "local_concurrency": config.local.concurrency,
    }
    for role, agent in sorted(runner.roles.items()):
        params[f"role.{role}"] = agent
    for agent_id in session.agents:
        agent = config.agent(agent_id)
        params[f"agent.{agent_id}"] = agent.model if agent.base_url else f"{agent.model} (local: {agent.local})"
    if session.router is not None:
        params.update(session.router.params())
    params.update(extra)
    return params


def log_graph(tracker: Tracker, session: Session, runner: GraphRunner) -> None:
    """The spec as YAML, the compiled graph as Mermaid, and its picture as PNG (if Graphviz is there)."""
    tracker.log_text(session.spec_path.read_text(encoding="utf-8"), f"graph/{session.spec_path.name}")
    tracker.log_text(mermaid(runner.graph), "graph/graph.mmd")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            png = render_png(session.spec, Path(tmp) / "graph.png")
        except OrchError as exc:
            tracker.log_text(f"graph picture not drawn: {exc}\n", "graph/graph-missing.txt")
        else:
            tracker.log_artifact(png, "graph")


def log_results(tracker: Tracker, results: Sequence[ItemResult]) -> RunSummary:
    summary = summarize(results)
    tracker.log_metrics(summary.metrics())
    for agent in summary.agents:
        tracker.log_metrics({f"agent.{agent.agent}.path.{path}": count for path, count in agent.paths.items()})
    tracker.log_table([item_row(r) for r in results], "items.json")
    tracker.log_text("\n".join(r.model_dump_json() for r in results) + "\n", "results.jsonl")
    tracker.log_text(summary.model_dump_json(indent=2), "summary.json")
    return summary
