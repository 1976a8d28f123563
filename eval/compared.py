"""What an evaluation compares: each system's results on the items every system answered, with a
note for each reason an item was left out, and what each routed system's router did."""

from __future__ import annotations

from collections.abc import Sequence

from orch.eval.report import SystemResults
from orch.eval.systems import System
from orch.items import Item
from orch.records import ItemResult

__all__ = ["compared", "router_note"]


def compared(
    systems: Sequence[System], items: Sequence[Item], results: dict[str, list[ItemResult]], notes: list[str]
) -> list[SystemResults]:
    """Each system's results on the items every system answered: a failed item is no answer, and
    an item a budget left unstarted has none yet, so each is left out of every comparison (and
    noted in `notes`) until a re-run answers it."""
    failed = sorted({r.item.id for rs in results.values() for r in rs if r.status == "failed"})
    if failed:
        shown = ", ".join(failed[:5]) + (" …" if len(failed) > 5 else "")
        notes.append(
            f"{len(failed)} item(s) failed in some system and are left out of every comparison; "
            f"run the same command again to retry them ({shown})"
        )
    left_out = set(failed)
    ran = [{r.item.id for r in rs} for rs in results.values()]
    unstarted = [i.id for i in items if i.id not in left_out and not all(i.id in r for r in ran)]
    if unstarted:
        notes.append(
            f"{len(unstarted)} item(s) were not run by some system (the budget stopped the evaluation) and are "
            "left out of every comparison; run the same command again to continue"
        )
    left_out.update(unstarted)
    return [
        SystemResults(
            name=s.name,
            kind=s.kind,
            baseline=s.baseline,
            results=[r for r in results[s.name] if r.item.id not in left_out],
        )
        for s in systems
    ]


def router_note(system: str, results: Sequence[ItemResult], router_id: str, policy_hash: str) -> str:
    """The report's line on a routed system: its router, the calls spent on feedback, the mergers chosen."""
    extra = sum(r.feedback.extra_calls for r in results if r.feedback)
    mergers: dict[str, int] = {}
    for r in results:
        if r.routing is not None:
            mergers[r.routing.merger] = mergers.get(r.routing.merger, 0) + 1
    return (
        f"{system}: router {router_id} (policy {policy_hash}); "
        f"{extra} extra calls for feedback, counted in its calls and tokens; mergers chosen: "
        + ", ".join(f"{agent} ×{n}" for agent, n in sorted(mergers.items()))
    )
