"""The shipped `orch-paper` graph runs the paper's protocol per benchmark: the dispatcher's
sub-questions on MMLU, bare 300-character analyses on MMLU-Pro and GSM8K, an unreadable merge
scored wrong; each call counted in the item's usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orch.cli.render import summary_lines
from orch.graphs import load_graph
from orch.items import Item
from orch.nodes.schemas import AnalysisBudget
from orch.summary import summarize
from tests.conftest import analyst, schema_name
from tests.test_nodes import timeout_error
from tests.test_spec import runner_for

MMLU = Item(
    id="mmlu/geography/0",
    question="What is the capital of France?",
    options=("Berlin", "Madrid", "Paris", "Rome"),
    answer="C",
    category="geography",
    source="mmlu",
)
PRO = Item(
    id="mmlu-pro/1",
    question="Which number is prime?",
    options=("4", "6", "8", "9", "10", "11", "12", "14", "15", "16"),
    answer="F",
    category="math",
    source="mmlu-pro",
)
QUESTIONS = ["Which city is France's capital?", "Where is the Seine?", "Is Rome in France?"]


def merger(*, dispatch: Any = None, merge: str | None = None) -> Any:
    """The merger's script: `dispatch` to the dispatcher's call, analyses and merge propose the gold."""

    def script(messages: list, kwargs: dict[str, Any]) -> Any:
        if schema_name(kwargs) == "sub_questions":
            return dispatch if dispatch is not None else {"sub_questions": QUESTIONS}
        letters = kwargs["response_format"]["json_schema"]["schema"]["properties"]["answer"]["enum"]
        gold = "C" if len(letters) == 4 else "F"
        if schema_name(kwargs) == "merge" and merge is not None:
            return merge
        return analyst(gold)(messages, kwargs)

    return script


@pytest.fixture
def paper(pool_config, scripted_pool):
    def make(**scripts: Any):
        pool, models = scripted_pool(**{"mid": analyst("C"), "weak": analyst("A"), **scripts})
        return runner_for(load_graph("orch-paper", pool=pool_config), pool), models

    return make


def test_mmlu_analysts_get_the_dispatchers_sub_questions(paper) -> None:
    runner, models = paper(strong=merger())
    result = runner.invoke(MMLU)
    assert result.dispatch is not None and result.dispatch.sub_questions == QUESTIONS
    assert sorted(a.sub_question for a in result.analyses) == sorted(QUESTIONS)
    prompts = [m.calls[0]["messages"][0].content for m in (models["mid"], models["weak"])]
    assert all("Focus on this sub-question: " in p for p in prompts)
    assert result.usage.calls == 1 + 3 + 1  # the dispatcher's call is counted with the others
    assert (result.answer, result.correct, result.status) == ("C", True, "ok")


def test_a_failed_dispatcher_degrades_the_item_to_the_fixed_facets(paper) -> None:
    runner, _ = paper(strong=merger(dispatch=timeout_error()))
    result = runner.invoke(MMLU)
    assert {a.facet for a in result.analyses} == {
        "concept_discrimination",
        "option_elimination",
        "reasoning_verification",
    }
    assert all("the fixed facets stand in" in a.note for a in result.analyses)
    assert result.status == "degraded" and result.failures[0].startswith("strong: ")
    assert result.answer == "C"


def test_the_dispatcher_is_summarised_apart_from_the_analysts(paper) -> None:
    runner, _ = paper(strong=merger())
    used = runner.invoke(MMLU)
    runner, _ = paper(strong=merger(dispatch=timeout_error()))
    failed = runner.invoke(MMLU)
    summary = summarize([used, failed])
    assert summary.dispatcher is not None
    assert summary.dispatcher.model_dump(include={"agent", "calls", "fallbacks", "failed"}) == {
        "agent": "strong",
        "calls": 2,
        "fallbacks": 1,
        "failed": 1,
    }
    assert sorted(a.agent for a in summary.agents) == ["mid", "strong", "weak"]  # analysts only
    assert summary.agents[[a.agent for a in summary.agents].index("strong")].outputs == 2
    assert (summary.metrics()["dispatch.calls"], summary.metrics()["dispatch.fallbacks"]) == (2, 1)
    assert any(
        "dispatcher strong: 2 call(s)" in line and "stood in on 1 (1 failed)" in line for line in summary_lines(summary)
    )
    bare = summarize([runner.invoke(PRO)])
    assert bare.dispatcher is None and bare.metrics()["dispatch.calls"] == 0  # same keys for every graph


def test_mmlu_pro_and_gsm8k_items_get_bare_300_character_analyses(paper) -> None:
    number = json.dumps({"key_points": ["prime"], "answer": "11", "confidence": 90})
    gsm8k = Item(id="gsm8k/0", question="What is 5 + 6?", answer="11", category="gsm8k", source="gsm8k")
    for item, script in ((PRO, merger()), (gsm8k, number)):
        runner, models = paper(strong=script, mid=script, weak=script)
        result = runner.invoke(item)
        assert result.dispatch is None and result.usage.calls == 3 + 1
        assert all(a.facet is None and a.sub_question is None for a in result.analyses)
        assert all(a.note == f"no facets: {item.source} items take none (skip_sources)" for a in result.analyses)
        first = models["mid"].calls[0]
        assert "Focus on" not in first["messages"][0].content
        assert first["kwargs"]["max_tokens"] == AnalysisBudget.for_item(item, 300).max_tokens
        assert result.correct is True


def test_an_unreadable_merge_is_no_answer_and_scored_wrong(paper) -> None:
    runner, _ = paper(strong=merger(merge="The analysts make good points."))
    result = runner.invoke(MMLU)
    assert (result.answer, result.decision.method, result.decision.path) == (None, "none", "invalid")
    assert result.status == "ok" and result.correct is False  # a wrong answer, not a failure to retry
    orch_default = load_graph("orch").nodes["merge"].config
    assert orch_default.on_unreadable == "fallback"
