"""The dispatcher: one agent writes item-specific sub-questions for the analysts (the paper on MMLU).

One grammar-constrained call asks for exactly `n` sub-questions of at most `chars` characters. The
bound is enforced again when the reply is read, because an endpoint without grammars (OpenAI-style
`json_object`, plain text) may write longer strings: a sub-question can never exceed its bound in
an analyst's prompt. Whatever goes wrong — the call fails, the reply is not JSON, too few usable
sub-questions — the result says why, and `decompose` falls back to its fixed facets.
"""

from __future__ import annotations

import json

from orch.errors import BackendError
from orch.items import Item
from orch.nodes.base import CallLog
from orch.nodes.prompts import dispatch_system, question_block
from orch.nodes.schemas import sub_questions_schema, tokens_for
from orch.nodes.tolerant_json import find_object
from orch.records import Dispatch

__all__ = ["read_sub_questions", "write_sub_questions"]


def read_sub_questions(text: str, n: int, chars: int) -> tuple[list[str], str | None]:
    """(the first `n` sub-questions, each cut to `chars`) or ([], why they cannot be read).

    A value cut by the end of input is not used: its last sub-question may be half-written.
    """
    try:
        data: object = json.loads(text)
    except (ValueError, RecursionError):
        parsed = find_object(text)
        data = parsed.obj if parsed is not None and parsed.cut_key != "sub_questions" else None
    if not isinstance(data, dict):
        return [], "the reply is not a JSON object"
    value = data.get("sub_questions")
    if not isinstance(value, list):
        return [], "the reply has no list of sub_questions"
    questions = [" ".join(q.split())[:chars].strip() for q in value if isinstance(q, str)]
    questions = [q for q in questions if q]
    if len(questions) < n:
        return [], f"the reply has {len(questions)} usable sub-questions of the {n} asked for"
    return questions[:n], None


async def write_sub_questions(calls: CallLog, item: Item, *, agent: str, node: str, n: int, chars: int) -> Dispatch:
    """The dispatcher's call and what came of it; never raises for a failed or unreadable reply."""
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [SystemMessage(dispatch_system(n, chars)), HumanMessage(question_block(item))]
    try:
        completion = await calls.complete(
            messages,
            schema=sub_questions_schema(n, chars),
            schema_name="sub_questions",
            max_tokens=tokens_for(n * chars, n + 1),
        )
    except BackendError as exc:
        why = f"the dispatcher's call failed ({type(exc).__name__})"
        return Dispatch(agent=agent, node=node, fallback=why, error=str(exc), **calls.stamp())
    questions, unreadable = read_sub_questions(completion.text, n, chars)
    fallback = f"the dispatcher's reply was unreadable: {unreadable}" if unreadable else None
    return Dispatch(
        agent=agent,
        node=node,
        sub_questions=questions,
        fallback=fallback,
        raw=completion.text,
        **calls.stamp(),
    )
