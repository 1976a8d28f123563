"""Each node kind alone, with scripted chat models: prompts, schemas, parse paths, fallbacks, tie-breaks."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from langgraph.runtime import Runtime

from orch.backends.pool import AgentPool
from orch.items import Item
from orch.nodes import (
    Analyze,
    AnalyzeConfig,
    Decompose,
    DecomposeConfig,
    Direct,
    DirectConfig,
    Merge,
    MergeConfig,
    Vote,
    VoteConfig,
)
from orch.nodes.context import RunContext
from orch.nodes.schemas import AnalysisBudget, analysis_schema
from orch.records import AgentOutput
from tests.conftest import analyst, schema_name


def run(node: Any, state: dict, pool: AgentPool) -> dict:
    return asyncio.run(node(state, Runtime(context=RunContext(pool=pool))))


def output(agent: str, answer: str | None, confidence: float | None = None, slot: int = 0, path: str = "json") -> dict:
    return AgentOutput(
        agent=agent, node="analyze", kind="analysis", slot=slot, answer=answer, confidence=confidence, path=path
    ).model_dump()


def timeout_error() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=__import__("httpx").Request("POST", "http://x"))


# -- analyze -----------------------------------------------------------------------------------


def test_analyze_reads_structured_reply_and_constrains_schema_to_item(scripted_pool, item: Item) -> None:
    pool, models = scripted_pool(mid=analyst("C", 80))
    update = run(Analyze("analyze", AnalyzeConfig()), {"item": item.model_dump(), "agent": "mid"}, pool)
    [record] = [AgentOutput.model_validate(a) for a in update["analyses"]]
    assert (record.agent, record.answer, record.confidence, record.path) == ("mid", "C", 0.8, "json")
    assert record.analysis is not None and record.analysis.eliminations.keys() == {"A", "B", "C", "D"}
    kwargs = models["mid"].calls[0]["kwargs"]
    schema = kwargs["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["answer"]["enum"] == ["A", "B", "C", "D"]
    assert kwargs["max_tokens"] == AnalysisBudget.for_item(item, 500).max_tokens


def test_analysis_budget_bounds_every_string_and_the_tokens_together(item: Item) -> None:
    budget = AnalysisBudget.for_item(item, 500)
    schema = analysis_schema(item, budget)
    text_bound = schema["properties"]["key_points"]["maxItems"] * schema["properties"]["key_points"]["items"][
        "maxLength"
    ] + sum(p["maxLength"] for p in schema["properties"]["eliminations"]["properties"].values())
    assert text_bound <= 500
    assert budget.max_tokens >= text_bound / 2.5  # enough tokens to reach the answer field


def test_analyze_truncated_json_keeps_fields_and_asks_for_the_choice(scripted_pool, item: Item) -> None:
    truncated = '{"key_points": ["Paris is the capital"], "eliminations": {"A": "Berlin is Germany", "B": "Mad'
    pool, models = scripted_pool(weak=[truncated, '{"answer": "C"}'])
    update = run(Analyze("analyze", AnalyzeConfig()), {"item": item.model_dump(), "agent": "weak"}, pool)
    record = AgentOutput.model_validate(update["analyses"][0])
    assert record.path == "choice_step" and record.answer == "C"
    assert record.analysis.key_points == ["Paris is the capital"]
    assert record.usage.calls == 2
    assert schema_name(models["weak"].calls[1]["kwargs"]) == "choice"


def test_analyze_without_choice_step_counts_invalid_never_maps(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool(weak="A good answer would consider the history of Europe.")
    update = run(
        Analyze("analyze", AnalyzeConfig(choice_step=False)), {"item": item.model_dump(), "agent": "weak"}, pool
    )
    record = AgentOutput.model_validate(update["analyses"][0])
    assert (record.answer, record.path) == (None, "invalid")


def test_analyze_backend_failure_is_recorded_not_raised(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool(weak=lambda m, k: timeout_error())
    update = run(Analyze("analyze", AnalyzeConfig()), {"item": item.model_dump(), "agent": "weak"}, pool)
    record = AgentOutput.model_validate(update["analyses"][0])
    assert record.path == "error" and "APITimeoutError" in (record.error or "")


def test_analyze_facet_goes_into_the_prompt(scripted_pool, item: Item) -> None:
    pool, models = scripted_pool(mid=analyst("C"))
    run(
        Analyze("analyze", AnalyzeConfig()),
        {"item": item.model_dump(), "agent": "mid", "slot": 1, "facet": "option_elimination"},
        pool,
    )
    assert "Focus on option elimination" in models["mid"].calls[0]["messages"][0].content


def test_numeric_item_gets_a_number_pattern_and_normalised_answer(scripted_pool) -> None:
    numeric = Item(id="g/1", question="Tom has 3 apples and buys 1,200 more. How many?", answer="1203")
    pool, models = scripted_pool(mid='{"key_points": ["3 + 1200"], "answer": "1203", "confidence": 90}')
    update = run(Analyze("analyze", AnalyzeConfig()), {"item": numeric.model_dump(), "agent": "mid"}, pool)
    assert update["analyses"][0]["answer"] == "1203"
    schema = models["mid"].calls[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert "pattern" in schema["properties"]["answer"] and "eliminations" not in schema["properties"]


# -- merge -------------------------------------------------------------------------------------


def test_merge_sees_analyses_sorted_by_agent_and_anonymised(scripted_pool, item: Item) -> None:
    from orch.nodes.state import add_analyses

    pool, models = scripted_pool(strong=lambda m, k: '{"answer": "C"}')
    arrivals = [output("weak", "A"), output("mid", "B"), output("strong", "C")]
    # parallel writes arrive in any order; the channel's reducer orders them
    state_a = {"item": item.model_dump(), "analyses": add_analyses(add_analyses([], arrivals[:1]), arrivals[1:])}
    state_b = {**state_a, "analyses": add_analyses(add_analyses([], arrivals[2:]), list(reversed(arrivals[:2])))}
    update_a = run(Merge("merge", MergeConfig()), state_a, pool)
    update_b = run(Merge("merge", MergeConfig()), state_b, pool)
    prompt_a, prompt_b = (call["messages"][1].content for call in models["strong"].calls)
    assert prompt_a == prompt_b
    assert (
        prompt_a.index("Analyst 1 proposes: B")
        < prompt_a.index("Analyst 2 proposes: C")
        < prompt_a.index("Analyst 3 proposes: A")
    )  # mid < strong < weak
    assert "weak" not in prompt_a and "strong" not in prompt_a
    assert update_a["decision"]["answer"] == update_b["decision"]["answer"] == "C"
    assert update_a["decision"]["method"] == "merge"


def test_merge_unreadable_reply_falls_back_to_confidence_weighted_vote(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool(strong="I cannot decide.")
    state = {
        "item": item.model_dump(),
        "analyses": [output("weak", "A", 0.3), output("mid", "B", 0.9), output("strong", "A", 0.4)],
    }
    decision = run(Merge("merge", MergeConfig()), state, pool)["decision"]
    assert (decision["answer"], decision["method"], decision["path"]) == ("B", "merge_fallback_vote", "invalid")
    assert decision["tally"] == {"A": pytest.approx(0.7), "B": pytest.approx(0.9)}


def test_merge_fallback_tie_goes_to_fixed_agent_order(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool(strong=lambda m, k: timeout_error())
    state = {"item": item.model_dump(), "analyses": [output("weak", "A", 0.5), output("mid", "B", 0.5)]}
    decision = run(Merge("merge", MergeConfig()), state, pool)["decision"]
    # priority is the pool's declaration order: strong, mid, weak → mid's B wins the tie
    assert (decision["answer"], decision["method"]) == ("B", "merge_fallback_order")
    assert "merge call failed" in decision["note"]


def test_merge_with_rationale_asks_for_bounded_text_before_the_answer(scripted_pool, item: Item) -> None:
    pool, models = scripted_pool(strong='{"rationale": "Paris is the capital.", "answer": "C"}')
    run(Merge("merge", MergeConfig(rationale_chars=120)), {"item": item.model_dump(), "analyses": []}, pool)
    schema = models["strong"].calls[0]["kwargs"]["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["rationale", "answer"]
    assert schema["properties"]["rationale"]["maxLength"] == 120


def test_merge_ignores_failed_analyses(scripted_pool, item: Item) -> None:
    pool, models = scripted_pool(strong='{"answer": "C"}')
    state = {"item": item.model_dump(), "analyses": [output("weak", None, path="error"), output("mid", "C")]}
    run(Merge("merge", MergeConfig()), state, pool)
    prompt = models["strong"].calls[0]["messages"][1].content
    assert "Analyst 2" not in prompt and "Analyst 1 proposes: C" in prompt
    assert "(1 more analyst could not be reached: their analyses are missing.)" in prompt


# -- direct, vote, decompose ------------------------------------------------------------------


def test_direct_alone_decides_but_fanned_out_only_contributes(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool(mid='{"answer": "D"}')
    alone = run(Direct("answer", DirectConfig(agent="mid")), {"item": item.model_dump()}, pool)
    assert alone["decision"]["answer"] == "D" and alone["decision"]["method"] == "direct"
    fanned = run(Direct("answer", DirectConfig()), {"item": item.model_dump(), "agent": "mid"}, pool)
    assert "decision" not in fanned and fanned["analyses"][0]["answer"] == "D"


def test_direct_with_reasoning_is_chain_of_thought(scripted_pool, item: Item) -> None:
    pool, models = scripted_pool(mid='{"reasoning": "Paris is in France.", "answer": "C"}')
    update = run(Direct("answer", DirectConfig(agent="mid", reasoning_chars=300)), {"item": item.model_dump()}, pool)
    assert update["analyses"][0]["reasoning"] == "Paris is in France."
    assert "step by step" in models["mid"].calls[0]["messages"][0].content


@pytest.mark.parametrize(
    ("answers", "weight", "expected", "method", "note"),
    [
        ([("weak", "A", None), ("mid", "A", None), ("strong", "C", None)], "count", "A", "vote", ""),
        ([("weak", "A", None), ("strong", "C", None)], "count", "C", "vote", "tie broken by agent priority"),
        ([("weak", "A", None), ("mid", "B", None)], "count", "B", "vote", "tie broken by agent priority"),
        ([("weak", "A", 0.9), ("mid", "B", 0.2), ("strong", "B", 0.2)], "confidence", "A", "vote", ""),
        ([("weak", None, None)], "count", None, "none", ""),
    ],
)
def test_vote_majority_and_fixed_tie_break(scripted_pool, item: Item, answers, weight, expected, method, note) -> None:
    pool, _ = scripted_pool()
    state = {"item": item.model_dump(), "analyses": [output(a, ans, c) for a, ans, c in answers]}
    decision = run(Vote("vote", VoteConfig(weight=weight)), state, pool)["decision"]
    assert (decision["answer"], decision["method"], decision["note"]) == (expected, method, note)


def test_vote_is_independent_of_arrival_order(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool()
    answers = [output("weak", "A"), output("mid", "B"), output("strong", "C"), output("strong", "A", slot=1)]
    first = run(Vote("vote", VoteConfig()), {"item": item.model_dump(), "analyses": answers}, pool)
    second = run(Vote("vote", VoteConfig()), {"item": item.model_dump(), "analyses": answers[::-1]}, pool)
    assert first["decision"]["answer"] == second["decision"]["answer"] == "A"


def test_decompose_assigns_one_facet_per_analyst_or_all_to_one(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool()
    state = {"item": item.model_dump(), "panel": ["strong", "mid", "weak"], "roles": {"writer": "strong"}}
    tasks = run(Decompose("decompose", DecomposeConfig()), state, pool)["tasks"]
    assert [(t["agent"], t["facet"]) for t in tasks] == [
        ("strong", "concept_discrimination"),
        ("mid", "option_elimination"),
        ("weak", "reasoning_verification"),
    ]
    one = run(Decompose("decompose", DecomposeConfig(agent="writer")), state, pool)["tasks"]
    assert [(t["agent"], t["slot"]) for t in one] == [("strong", 0), ("strong", 1), ("strong", 2)]


# -- decompose: the dispatcher's sub-questions (the paper on MMLU) -------------------------------

DISPATCHER = DecomposeConfig(source="dispatcher", dispatcher="merger", max_chars=40)
TOO_LONG = "Which of these cities lies on the Seine river, and which on the Tagus?"
CUT = "Which of these cities lies on the Seine"  # its first 40 characters, trailing space dropped


def dispatcher(reply: Any) -> Any:
    """The merger as dispatcher: `reply` to the sub-questions call; analyses propose C."""

    def script(messages: list, kwargs: dict[str, Any]) -> Any:
        if schema_name(kwargs) == "sub_questions":
            return reply
        return analyst("C")(messages, kwargs)

    return script


def analyse_task(task: dict, item: Item, pool: AgentPool) -> AgentOutput:
    """One analyst's copy of the fan-out over `tasks`, given its payload as LangGraph sends it."""
    update = run(Analyze("analyze", AnalyzeConfig()), {"item": item.model_dump(), **task}, pool)
    return AgentOutput.model_validate(update["analyses"][0])


def test_dispatcher_sub_questions_reach_the_analysts_prompts_and_are_bounded(scripted_pool, item: Item) -> None:
    reply = {"sub_questions": ["Which city is France's capital?", TOO_LONG, "Is Rome in France?"]}
    pool, models = scripted_pool(strong=dispatcher(reply), mid=analyst("C"), weak=analyst("A"))
    state = {"item": item.model_dump(), "panel": ["strong", "mid", "weak"]}
    update = run(Decompose("decompose", DISPATCHER), state, pool)
    [call] = models["strong"].calls
    questions = call["kwargs"]["response_format"]["json_schema"]["schema"]["properties"]["sub_questions"]
    assert (questions["minItems"], questions["maxItems"], questions["items"]["maxLength"]) == (3, 3, 40)
    assert "Paris" in call["messages"][1].content  # the dispatcher reads the item itself
    tasks = update["tasks"]
    assert all(len(t["sub_question"]) <= 40 for t in tasks)
    assert [t["sub_question"] for t in tasks] == [
        "Which city is France's capital?",
        CUT,
        "Is Rome in France?",
    ]
    assert all(t["facet"] is None and t["note"] == "" for t in tasks)
    assert update["dispatch"]["agent"] == "strong" and update["dispatch"]["fallback"] is None
    assert update["dispatch"]["usage"]["calls"] == 1
    record = analyse_task(tasks[1], item, pool)
    prompt = models["mid"].calls[0]["messages"][0].content
    assert prompt.endswith(f"Focus on this sub-question: {CUT}")
    assert "Focus on option elimination" not in prompt
    assert (record.sub_question, record.facet) == (CUT, None)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (timeout_error(), "the dispatcher's call failed (BackendError"),
        ("Good sub-questions would be about rivers.", "unreadable: the reply is not a JSON object"),
        ({"sub_questions": ["One?", "  ", 7]}, "unreadable: the reply has 1 usable sub-questions of the 3 asked for"),
    ],
)
def test_a_failed_dispatcher_falls_back_to_the_facets_and_says_so(scripted_pool, item: Item, reply, why) -> None:
    pool, models = scripted_pool(strong=dispatcher(reply), mid=analyst("C"))
    state = {"item": item.model_dump(), "panel": ["strong", "mid", "weak"]}
    update = run(Decompose("decompose", DISPATCHER), state, pool)
    tasks = update["tasks"]
    assert [t["facet"] for t in tasks] == ["concept_discrimination", "option_elimination", "reasoning_verification"]
    assert all(t["sub_question"] is None for t in tasks)
    assert all(why in t["note"] and t["note"].endswith("the fixed facets stand in") for t in tasks)
    assert why in update["dispatch"]["fallback"]
    assert (update["dispatch"]["error"] is not None) == isinstance(reply, BaseException)
    record = analyse_task(tasks[1], item, pool)
    assert "Focus on option elimination" in models["mid"].calls[0]["messages"][0].content
    assert why in record.note and record.facet == "option_elimination"


def test_no_facets_and_no_dispatcher_call_on_a_skipped_source(scripted_pool) -> None:
    numeric = Item(id="gsm8k/1", question="Tom has 3 apples and buys 4. How many?", answer="7", source="gsm8k")
    number = '{"key_points": ["3 + 4"], "answer": "7", "confidence": 90}'
    pool, models = scripted_pool(strong=number, mid=number, weak=number)
    config = DISPATCHER.model_copy(update={"skip_sources": ("mmlu-pro", "gsm8k")})
    state = {"item": numeric.model_dump(), "panel": ["strong", "mid", "weak"]}
    update = run(Decompose("decompose", config), state, pool)
    assert "dispatch" not in update and not models["strong"].calls
    assert [(t["agent"], t["facet"], t["sub_question"]) for t in update["tasks"]] == [
        ("strong", None, None),
        ("mid", None, None),
        ("weak", None, None),
    ]
    assert update["tasks"][0]["note"] == "no facets: gsm8k items take none (skip_sources)"
    analyze = Analyze("analyze", AnalyzeConfig(max_chars=600, max_chars_by_source={"gsm8k": 300}))
    run(analyze, {"item": numeric.model_dump(), **update["tasks"][1]}, pool)
    [call] = models["mid"].calls
    assert "Focus on" not in call["messages"][0].content
    assert call["kwargs"]["max_tokens"] == AnalysisBudget.for_item(numeric, 300).max_tokens


def test_a_source_not_skipped_still_gets_the_fixed_facets(scripted_pool, item: Item) -> None:
    pool, _ = scripted_pool()
    config = DecomposeConfig(skip_sources=("gsm8k",))
    tasks = run(Decompose("decompose", config), {"item": item.model_dump(), "panel": ["strong", "mid"]}, pool)["tasks"]
    assert [t["facet"] for t in tasks] == ["concept_discrimination", "option_elimination"]


def test_source_dispatcher_needs_a_dispatcher() -> None:
    with pytest.raises(ValueError, match="source: dispatcher needs dispatcher"):
        DecomposeConfig(source="dispatcher")


# -- merge: an unreadable reply ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_unreadable", "answer", "method"), [("fallback", "A", "merge_fallback_vote"), ("invalid", None, "none")]
)
def test_an_unreadable_merge_falls_back_or_gives_no_answer(scripted_pool, item: Item, on_unreadable, answer, method):
    pool, _ = scripted_pool(strong="It depends on the century.")
    state = {"item": item.model_dump(), "analyses": [output("weak", "A"), output("mid", "A"), output("strong", "C")]}
    decision = run(Merge("merge", MergeConfig(on_unreadable=on_unreadable)), state, pool)["decision"]
    assert (decision["answer"], decision["method"], decision["path"]) == (answer, method, "invalid")
    assert "merge reply unreadable" in decision["note"]
