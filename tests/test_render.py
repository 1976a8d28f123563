"""The terminal's item table: one column per agent however many kinds of answer it gave, so the
embedded pool's table fits a terminal."""

from __future__ import annotations

from rich.console import Console

from orch.cli.render import items_table
from orch.items import Item
from orch.records import AgentOutput, Decision, ItemResult, Usage


def output(agent: str, kind: str, answer: str | None) -> AgentOutput:
    return AgentOutput(
        agent=agent, node="analyze" if kind == "analysis" else "answer", kind=kind, answer=answer, path="json"
    )


def result(item_id: str, outputs: list[AgentOutput]) -> ItemResult:
    item = Item(id=item_id, question="Q?", options=("x", "y", "z"), answer="B")
    return ItemResult(
        item=item,
        graph="orch",
        answer="B",
        correct=True,
        decision=Decision(answer="B", node="weigh", method="weighted"),
        analyses=outputs,
        panel=sorted({o.agent for o in outputs}),
        roles={},
        wall_ms=1.0,
        analysis_ms=0.0,
        decision_ms=0.0,
        usage=Usage(),
    )


def rendered(results: list[ItemResult]) -> str:
    console = Console(width=200, record=True)
    console.print(items_table(results))
    return console.export_text()


def test_an_agents_analysis_and_direct_answer_share_one_column() -> None:
    both = result(
        "i1",
        [
            output("big", "analysis", "B"),
            output("big", "direct", "A"),
            output("small", "analysis", None),
            output("small", "direct", "C"),
        ],
    )
    text = rendered([both])
    header = next(line for line in text.splitlines() if "item" in line and "gold" in line)
    assert header.count("big") == 1 and header.count("small") == 1 and "direct" not in header
    assert "B/A" in text and "∅/C" in text
    assert "agent cells: analysis/direct answer" in text


def test_analyses_alone_show_one_answer_per_cell_and_no_caption() -> None:
    text = rendered([result("i1", [output("big", "analysis", "B"), output("small", "analysis", "C")])])
    assert "analysis/direct" not in text and "/" not in text.split("Items", 1)[1]
