"""Every prompt orch sends, in one place, with a version derived from the text itself.

Tune these on a development split only (MMLU items outside a reported sample, MMLU-Pro
validation). Any edit changes `PROMPT_VERSION`, which every run logs.
"""

from __future__ import annotations

import hashlib

from orch.items import Item

__all__ = [
    "FACETS",
    "PROMPT_VERSION",
    "analysis_system",
    "direct_system",
    "dispatch_system",
    "merge_system",
    "question_block",
]

FACETS: dict[str, str] = {
    "concept_discrimination": (
        "Focus on concept discrimination: name the concepts the question tests and tell apart "
        "the concepts the options confuse."
    ),
    "option_elimination": (
        "Focus on option elimination: test each option against the question and rule out the wrong ones."
    ),
    "reasoning_verification": (
        "Focus on reasoning verification: work the answer out step by step, then check each step and the final choice."
    ),
}
"""orch's three fixed facets, one per analyst; the `orch-paper` graphs fall back to them when the
dispatcher's sub-questions cannot be read."""

_SUB_QUESTION = "Focus on this sub-question: {question}"
"""Where a facet's text would go, the dispatcher's item-specific sub-question (the paper on MMLU)."""

_DISPATCH = """You are the dispatcher. {n} analysts will study the question below before a judge answers it.
Write one sub-question for each analyst: a different angle worth checking to answer it correctly.
Each sub-question is at most {chars} characters and does not give the answer away.
Reply with JSON: {{"sub_questions": [{slots}]}}."""

_ANALYSIS_CHOICE = """You are an expert analyst. Study the multiple-choice question before anyone answers it.
Reply with one JSON object only:
- "key_points": at most {n_points} short facts or steps that decide the question (each at most {point_chars} characters)
- "eliminations": for every option letter, why that option is right or wrong (each at most {note_chars} characters)
- "answer": the letter of the correct option
- "confidence": how sure you are, an integer from 0 to 100
Be brief: text beyond the limits is cut off."""

_ANALYSIS_NUMBER = """You are an expert analyst. Work out the maths problem before anyone answers it.
Reply with one JSON object only:
- "key_points": at most {n_points} short calculation steps (each at most {point_chars} characters)
- "answer": the final number only (digits, optional minus sign and decimal point)
- "confidence": how sure you are, an integer from 0 to 100
Be brief: text beyond the limits is cut off."""

_DIRECT_CHOICE = 'Answer the multiple-choice question. Reply with JSON: {"answer": "<letter>"}.'
_DIRECT_CHOICE_COT = (
    "Answer the multiple-choice question. Think step by step first. Reply with JSON: "
    '{{"reasoning": "<your steps, at most {chars} characters>", "answer": "<letter>"}}.'
)
_DIRECT_NUMBER = 'Solve the maths problem. Reply with JSON: {"answer": "<the final number>"}.'
_DIRECT_NUMBER_COT = (
    "Solve the maths problem. Think step by step first. Reply with JSON: "
    '{{"reasoning": "<your steps, at most {chars} characters>", "answer": "<the final number>"}}.'
)

_MERGE = """You are the judge. Several analysts studied the same question; their analyses follow.
They may disagree and any of them may be wrong: check their reasoning against the question and
choose the answer best supported, not simply the most popular one.
Reply with JSON: {reply}."""

_TEMPLATES = (
    *FACETS.values(),
    _SUB_QUESTION,
    _DISPATCH,
    _ANALYSIS_CHOICE,
    _ANALYSIS_NUMBER,
    _DIRECT_CHOICE,
    _DIRECT_CHOICE_COT,
    _DIRECT_NUMBER,
    _DIRECT_NUMBER_COT,
    _MERGE,
)
PROMPT_VERSION = "p1-" + hashlib.sha256("\x1e".join(_TEMPLATES).encode()).hexdigest()[:8]


def question_block(item: Item) -> str:
    if item.options is None:
        return f"Problem: {item.question}"
    return f"Question: {item.question}\n\nOptions:\n{item.render_options()}"


def analysis_system(
    item: Item,
    *,
    n_points: int,
    point_chars: int,
    note_chars: int,
    facet: str | None,
    sub_question: str | None = None,
) -> str:
    """The analyst's instructions, ending with its focus: a sub-question, else a facet, else none."""
    template = _ANALYSIS_CHOICE if item.options is not None else _ANALYSIS_NUMBER
    text = template.format(n_points=n_points, point_chars=point_chars, note_chars=note_chars)
    if sub_question:
        return f"{text}\n{_SUB_QUESTION.format(question=sub_question)}"
    return f"{text}\n{FACETS[facet]}" if facet else text


def dispatch_system(n: int, chars: int) -> str:
    """The dispatcher's instructions: `n` sub-questions of at most `chars` characters each."""
    slots = ", ".join(f'"<sub-question {i}>"' for i in range(1, n + 1))
    return _DISPATCH.format(n=n, chars=chars, slots=slots)


def direct_system(item: Item, *, reasoning_chars: int) -> str:
    if item.options is not None:
        return _DIRECT_CHOICE_COT.format(chars=reasoning_chars) if reasoning_chars else _DIRECT_CHOICE
    return _DIRECT_NUMBER_COT.format(chars=reasoning_chars) if reasoning_chars else _DIRECT_NUMBER


def merge_system(item: Item, *, rationale_chars: int) -> str:
    slot = '"<letter>"' if item.options is not None else '"<the final number>"'
    reply = (
        f'{{"rationale": "<one sentence, at most {rationale_chars} characters>", "answer": {slot}}}'
        if rationale_chars
        else f'{{"answer": {slot}}}'
    )
    return _MERGE.format(reply=reply)
