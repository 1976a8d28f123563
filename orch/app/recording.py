"""What every system run puts in MLflow — an `ask`, a `run` or one system of an evaluation alike:
params, graph pictures, metrics, the item table and the results. One function per step, so
the three commands log the same keys with the same meaning."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orch.errors import OrchError
from orch.graphs import mermaid, render_png
from orch.nodes.prompts import PROMPT_VERSION
from orch.routers.report import ema_metrics
from orch.summary import RunSummary, item_row, summarize

if TYPE_CHECKING:
    from orch.app.session import Session
    from orch.records import ItemResult
    from orch.routers.policy import RouterPolicy
    from orch.routers.setup import RouterUpdate
    from orch.routers.state import RouterState
    from orch.tracking import Tracker

__all__ = ["log_answer", "log_graph", "log_results", "log_setup", "router_metrics", "run_params"]


def run_params(session: Session, **extra: object) -> dict[str, object]:
    """The run's configuration. A routed graph's merger and panel are the router's per-item choice,
    so they are logged as routed (the choices made are the `orch.routed_*` tags and the item table)."""
    config = session.pool_config
    routed = session.graph.route is not None
    params: dict[str, object] = {
        "graph": session.graph.name,
        "graph_source": session.graph.source,
        "spec_hash": session.graph.spec_hash,
        **{f"profile.{name}": label for name, label in session.graph.state_versions.items()},
        "pool_source": session.pool_source,
        "pool_hash": session.pool_hash,
        "prompt_version": PROMPT_VERSION,
        "seed": config.seed,
        "temperature": config.temperature,
        "panel": "routed" if routed else ",".join(session.cast.panel),
        "local_concurrency": config.local.concurrency,
    }
    for role, agent in sorted(session.cast.roles.items()):
        params[f"role.{role}"] = "routed" if routed and role == "merger" else agent
    for agent_id in session.agents:
        agent = config.agent(agent_id)
        params[f"agent.{agent_id}"] = agent.model if agent.base_url else f"{agent.model} (local: {agent.local})"
    if session.router is not None:
        params.update(session.router.params())
    params.update(extra)
    return params


def log_graph(tracker: Tracker, session: Session) -> None:
    """The spec as YAML, the compiled graph as Mermaid, and its picture as PNG (a failed drawing is a note)."""
    graph = session.graph
    tracker.log_text(graph.to_yaml(), f"graph/{graph.name}.yaml")
    tracker.log_text(mermaid(session.compiled), "graph/graph.mmd")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            png = render_png(session.compiled, Path(tmp) / "graph.png")
        except OrchError as exc:
            tracker.log_text(f"graph picture not drawn: {exc}\n", "graph/graph-missing.txt")
        else:
            tracker.log_artifact(png, "graph")


def log_setup(tracker: Tracker, session: Session, **extra: object) -> None:
    """Params and graph pictures: logged once, when the run is opened."""
    tracker.log_params(run_params(session, **extra))
    log_graph(tracker, session)


def log_results(tracker: Tracker, results: Sequence[ItemResult], **metrics: float) -> RunSummary:
    """Metrics (same keys for every graph), the item table, `results.jsonl` and `summary.json`."""
    summary = summarize(results)
    tracker.log_metrics({**summary.metrics(), **metrics})
    for agent in summary.agents:
        tracker.log_metrics({f"agent.{agent.agent}.path.{path}": count for path, count in agent.paths.items()})
    tracker.log_table([item_row(r) for r in results], "items.json")
    tracker.log_text("\n".join(r.model_dump_json() for r in results) + "\n", "results.jsonl")
    tracker.log_text(summary.model_dump_json(indent=2), "summary.json")
    routed = [r.routing for r in results if r.routing is not None]
    if routed:
        mergers = Counter(r.merger for r in routed)
        tracker.set_tags({"orch.routed_mergers": ", ".join(f"{a} ×{n}" for a, n in sorted(mergers.items()))})
    return summary


def log_answer(tracker: Tracker, result: ItemResult) -> RunSummary:
    """A served answer's run (one item): `log_results`'s metrics in one batch, `results.jsonl` and
    `summary.json`; no item table, which for one item costs more than the answer (the trace and
    `results.jsonl` hold the same)."""
    summary = summarize([result])
    metrics = dict(summary.metrics())
    for agent in summary.agents:
        metrics.update({f"agent.{agent.agent}.path.{path}": count for path, count in agent.paths.items()})
    tracker.log_metrics(metrics)
    tracker.log_text(result.model_dump_json() + "\n", "results.jsonl")
    tracker.log_text(summary.model_dump_json(indent=2), "summary.json")
    if result.routing is not None:
        tracker.set_tags({"orch.routed_mergers": f"{result.routing.merger} ×1"})
    return summary


def router_metrics(tracker: Tracker) -> RouterUpdate:
    """An update callback logging the EMA curves to `tracker`'s run, one step per item."""

    def log(index: int, state: RouterState, policy: RouterPolicy) -> None:
        tracker.log_metrics(ema_metrics(state, policy), step=index, wait=False)

    return log
